"""A QR code reader for the tests, independent of the encoder mailseal uses
(libqrencode): it takes the symbol's modules (a square of booleans, True
dark, no quiet zone), reads the format information (the nearest of the 32
valid BCH codes), removes the mask, reads the codewords in the standard's
zigzag, undoes the interleaving, checks every block's Reed-Solomon
error-correction codewords against its data (so a symbol with one module
wrong is refused, not corrected), and decodes numeric, alphanumeric and
byte segments (ISO/IEC 18004). No error correction: the symbols it reads
are drawn by a program, not photographed.

    text = decode(modules)           # str, or ValueError saying what is wrong
    modules = svg_modules(svg_text)  # the modules of mailseal's inline SVG
"""
import re

# Per error-correction level (L, M, Q, H) and version 1-40: error-correction
# codewords per block, and blocks (ISO/IEC 18004 table 9).
ECC_PER_BLOCK = {
    "L": [7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30, 30, 26, 28, 30,
          30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
    "M": [10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28,
          28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
    "Q": [13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30, 28, 30, 30, 30, 30, 28, 30,
          30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
    "H": [17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30, 30, 30, 30, 30,
          30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
}
BLOCKS = {
    "L": [1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18,
          19, 19, 20, 21, 22, 24, 25],
    "M": [1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31,
          33, 35, 37, 38, 40, 43, 45, 47, 49],
    "Q": [1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20, 23, 23, 25, 27, 29, 34, 34, 35, 38, 40,
          43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
    "H": [1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35, 37, 40, 42, 45, 48,
          51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
}
LEVEL_BITS = {1: "L", 0: "M", 3: "Q", 2: "H"}
MASKS = [
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
]
ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def svg_modules(svg):
    """The dark modules of the page's QR code: its path is one "Mx yh1v1h-1z"
    per module, the symbol from (0, 0) to (width - 1, width - 1)."""
    view = re.search(r'viewBox="-4 -4 (\d+) \1"', svg)
    if not view:
        raise ValueError("no QR code's viewBox in the SVG")
    width = int(view.group(1)) - 8
    dark = [[False] * width for _ in range(width)]
    path = re.search(r'<path[^>]* d="([^"]*)"', svg).group(1)
    for x, y in re.findall(r"M(\d+) (\d+)h1v1h-1z", path):
        dark[int(y)][int(x)] = True
    if re.sub(r"M\d+ \d+h1v1h-1z", "", path):
        raise ValueError("the QR code's path holds more than modules")
    return dark


def format_code(data):
    """The 15 masked bits that carry 5 bits of format information."""
    remainder = data << 10
    for bit in range(14, 9, -1):
        if remainder >> bit & 1:
            remainder ^= 0x537 << (bit - 10)
    return ((data << 10) | remainder) ^ 0x5412


def function_modules(size, version):
    """True where a module is a finder, separator, timing, alignment, format
    or version pattern (not data)."""
    function = [[False] * size for _ in range(size)]

    def mark(top, left, height, width):
        for y in range(max(top, 0), min(top + height, size)):
            for x in range(max(left, 0), min(left + width, size)):
                function[y][x] = True

    mark(0, 0, 9, 9)
    mark(0, size - 8, 9, 8)
    mark(size - 8, 0, 8, 9)
    mark(6, 0, 1, size)
    mark(0, 6, size, 1)
    if version >= 2:
        count = version // 7 + 2
        step = 26 if version == 32 else (version * 4 + count * 2 + 1) // (count * 2 - 2) * 2
        positions = [6] + sorted(size - 7 - i * step for i in range(count - 1))
        for y in positions:
            for x in positions:
                if (x, y) not in ((6, 6), (6, positions[-1]), (positions[-1], 6)):
                    mark(y - 2, x - 2, 5, 5)
    if version >= 7:
        mark(0, size - 11, 6, 3)
        mark(size - 11, 0, 3, 6)
    return function


def gf_multiply(x, y):
    product = 0
    for bit in range(7, -1, -1):
        product = (product << 1) ^ ((product >> 7) * 0x11D)
        product ^= ((y >> bit) & 1) * x
    return product


def reed_solomon(data, degree):
    """The error-correction codewords of a block (generator with roots 2^0..2^(degree-1))."""
    divisor = [0] * (degree - 1) + [1]
    root = 1
    for _ in range(degree):
        for j in range(degree):
            divisor[j] = gf_multiply(divisor[j], root)
            if j + 1 < degree:
                divisor[j] ^= divisor[j + 1]
        root = gf_multiply(root, 0x02)
    result = [0] * degree
    for byte in data:
        factor = byte ^ result.pop(0)
        result.append(0)
        for i, coefficient in enumerate(divisor):
            result[i] ^= gf_multiply(coefficient, factor)
    return result


def read_codewords(modules, version, mask):
    size = len(modules)
    function = function_modules(size, version)
    bits = []
    right = size - 1
    while right >= 1:
        if right == 6:
            right = 5
        for vertical in range(size):
            for j in range(2):
                x = right - j
                upward = ((right + 1) & 2) == 0
                y = size - 1 - vertical if upward else vertical
                if not function[y][x]:
                    bits.append(modules[y][x] != MASKS[mask](y, x))
        right -= 2
    return [int("".join("1" if bit else "0" for bit in bits[i:i + 8]), 2) for i in range(0, len(bits) // 8 * 8, 8)]


def deinterleave(codewords, version, level):
    """The data codewords, once every block's error correction checked out."""
    ecc_length = ECC_PER_BLOCK[level][version - 1]
    count = BLOCKS[level][version - 1]
    short_count = count - len(codewords) % count
    short_length = len(codewords) // count
    blocks = [[] for _ in range(count)]
    position = 0
    for i in range(short_length + 1):
        for j in range(count):
            if i == short_length - ecc_length and j < short_count:
                continue  # the short blocks have one data codeword less
            blocks[j].append(codewords[position])
            position += 1
    data = []
    for number, block in enumerate(blocks):
        payload, ecc = block[:-ecc_length], block[-ecc_length:]
        if reed_solomon(payload, ecc_length) != ecc:
            raise ValueError(f"block {number}'s error-correction codewords do not match its data")
        data += payload
    return data


def segments(data, version):
    bits = "".join(f"{byte:08b}" for byte in data)
    position = 0

    def take(count):
        nonlocal position
        if position + count > len(bits):
            raise ValueError("the data ends inside a segment")
        value = int(bits[position:position + count], 2)
        position += count
        return value

    size_class = 0 if version <= 9 else 1 if version <= 26 else 2
    text = bytearray()
    while len(bits) - position >= 4:
        mode = take(4)
        if mode == 0:
            break
        if mode == 1:  # numeric
            length = take([10, 12, 14][size_class])
            digits = ""
            while len(digits) < length:
                group = min(3, length - len(digits))
                digits += f"{take({3: 10, 2: 7, 1: 4}[group]):0{group}d}"
            text += digits.encode()
        elif mode == 2:  # alphanumeric
            length = take([9, 11, 13][size_class])
            for _ in range(length // 2):
                pair = take(11)
                text += (ALPHANUMERIC[pair // 45] + ALPHANUMERIC[pair % 45]).encode()
            if length % 2:
                text += ALPHANUMERIC[take(6)].encode()
        elif mode == 4:  # byte
            length = take([8, 16, 16][size_class])
            text += bytes(take(8) for _ in range(length))
        else:
            raise ValueError(f"a segment mode this reader does not know: {mode:04b}")
    return text.decode("utf-8")


def decode(modules):
    size = len(modules)
    if size < 21 or (size - 17) % 4 or any(len(row) != size for row in modules):
        raise ValueError(f"not a QR code's size: {size}")
    version = (size - 17) // 4
    read = 0
    for bit in [modules[8][x] for x in (0, 1, 2, 3, 4, 5, 7, 8)] + [modules[y][8] for y in (7, 5, 4, 3, 2, 1, 0)]:
        read = read << 1 | int(bit)
    distance, data = min((bin(format_code(data) ^ read).count("1"), data) for data in range(32))
    if distance > 3:
        raise ValueError("no valid format information")
    level, mask = LEVEL_BITS[data >> 3], data & 7
    return segments(deinterleave(read_codewords(modules, version, mask), version, level), version)

#!/usr/bin/python3
"""The key service's pages in a real browser: a real `mailseal serve
--unverified` on 127.0.0.1 with a published profile whose name is hostile
markup, Debian's chromium headless driven by chromedriver through selenium.
Loads /, types an address into the form and submits it, checks the result
page (fingerprint, addresses, the name shown as text, no script run, the
stylesheet applied under the strict Content-Security-Policy and nothing
refused by it), fetches the certificate links with urllib and reads them
with openssl (PEM, and the .p7c as DER PKCS#7), the 404 page of an unknown
address, /about. Then the verification flow end to end on a `serve --smtp`
mailing its challenge to a real SMTP server (aiosmtpd): the address has no
page while pending, the mail's link opens the confirmation page, the button
confirms, and the lookup page then says the address was proved. The QR code
is read back (tests/tools/qr_decode.py, not the encoder's code); HEAD gets a
page's header fields without its body. Phone-width
screenshots (390x844) go into MAILSEAL_RESULTS or ./web_pages; their paths
are printed."""
import re
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, skip  # noqa: E402

CHROMEDRIVER = "/usr/bin/chromedriver"
if not os.access(CHROMEDRIVER, os.X_OK) or not os.access("/usr/bin/chromium", os.X_OK):
    skip("chromium and chromium-driver are not installed (scripts/install-deps.sh installs them)")
try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as missing:
    skip(f"{missing} (install python3-selenium; Debian's is seen by /usr/bin/python3 only)")
import qr_decode  # noqa: E402
from service_tool import KeyService  # noqa: E402
from smtp_tool import Upstream  # noqa: E402

require_mailseal()

ADDRESS = "alice@example.com"
HOSTILE_NAME = "Alice <script>alert(1)</script> & \"Co\""
LINK = re.compile(rb"(https?://[^\s/]+/verify/[0-9a-f]{64})")


def browser():
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=390,844",
                     "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # A headless window is at least 500 pixels wide: a phone's screen is
    # emulated instead (what the page's viewport meta then applies to).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    return driver


def fetch(url, method="GET"):
    """(status, headers, body bytes) of a request without a body, whatever the status."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def openssl(*arguments, data):
    return subprocess.run(["openssl", *arguments], input=data, capture_output=True)


def no_alert(driver):
    try:
        driver.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def navigate_by(driver, action):
    """Runs `action` (a submit, a click) and waits until the browser has
    replaced the page and loaded the next one."""
    old = driver.find_element(By.TAG_NAME, "html")
    action()

    def replaced(_driver):
        # staleness_of waits for StaleElementReferenceException only; in the
        # middle of a navigation chromedriver may instead answer "Node with
        # given id does not belong to the document", which means the same.
        try:
            old.is_enabled()
            return False
        except WebDriverException:
            return True

    WebDriverWait(driver, 60).until(replaced)
    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")


def csp_complaints(driver):
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Refused" in entry["message"]]


results = os.environ.get("MAILSEAL_RESULTS") or os.path.join(os.getcwd(), "web_pages")
os.makedirs(results, exist_ok=True)


def unverified_pages(work, driver):
    """An unverified service: the lookup form, the result, the downloads, 404 and /about."""
    os.makedirs(work)
    with KeyService(MAILSEAL, work, extra=["--unverified"]) as service:
        alice = Home.at(os.path.join(work, "alice"))
        alice.must("init", ADDRESS, "--name", HOSTILE_NAME, "--suite", "modern", "--service", service.url)
        fingerprint = service.account_fingerprint(ADDRESS)
        check(bool(fingerprint), "Alice's profile is published on the service", fingerprint)

        driver.get(service.url + "/")
        check(driver.title == "mailseal key service", "/ loads in Chromium", driver.title)
        driver.save_screenshot(os.path.join(results, "home.png"))
        field = driver.find_element(By.NAME, "q")
        field.send_keys(ADDRESS)
        navigate_by(driver, field.submit)
        body = driver.find_element(By.TAG_NAME, "body").text
        check(driver.current_url.startswith(service.url + "/lookup?q=alice%40example.com"),
              "submitting the form GETs /lookup?q=<the address>", driver.current_url)
        check(driver.find_element(By.ID, "fingerprint").text == fingerprint,
              "the result page shows the profile's fingerprint", body)
        check(HOSTILE_NAME in body, "the hostile name is shown as text, whole", body)
        check(no_alert(driver), "the script in the name does not run")
        check(not driver.find_elements(By.TAG_NAME, "script"), "the page holds no script element")
        check(ADDRESS in body and "Not verified" in body, "the address is listed, said to be unverified", body)
        strong = driver.find_element(By.CLASS_NAME, "strong").text
        check(strong.startswith("alice@mm--") and strong.endswith(".example.com") and
              fingerprint.replace("-", "").lower().startswith(strong.split("--")[1].split(".")[0].replace("-", "")),
              "the strong address (Strong Internet Name) carries the fingerprint", (strong, fingerprint))
        qr = driver.find_elements(By.CSS_SELECTOR, "svg.qr path")
        check(len(qr) == 1 and qr[0].size["width"] > 150, "a QR code of the strong address is drawn (inline SVG)",
              [q.size for q in qr])
        try:
            scanned = qr_decode.decode(qr_decode.svg_modules(
                driver.find_element(By.CSS_SELECTOR, "svg.qr").get_attribute("outerHTML")))
        except ValueError as unreadable:
            scanned = f"unreadable: {unreadable}"
        check(scanned == strong, "the QR code reads back as the strong address (tests/tools/qr_decode.py: "
              "format, mask, Reed-Solomon checked)", (scanned, strong))
        font = driver.execute_script("return getComputedStyle(document.body).fontFamily")
        check("sans-serif" in font, "the inline stylesheet applies (allowed by its hash)", font)
        complaints = csp_complaints(driver)
        check(not complaints, "the browser refused nothing under the Content-Security-Policy", complaints)
        width = driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
        check(width == [390, 390], "nothing is wider than a 390-pixel phone (the fingerprint wraps)", width)
        shot = os.path.join(results, "lookup.png")
        driver.save_screenshot(shot)
        print(f"# screenshot at phone width: {shot}", flush=True)

        links = {name: driver.find_element(By.ID, name).get_attribute("href") for name in ("pem", "p7c")}
        status, headers, pem = fetch(links["pem"])
        check(status == 200 and pem.startswith(b"-----BEGIN CERTIFICATE-----"),
              "the PEM link downloads certificates", (status, pem[:60]))
        read = openssl("x509", "-noout", "-subject", data=pem)
        check(read.returncode == 0, "openssl reads the PEM", read.stderr.decode())
        status, headers, p7c = fetch(links["p7c"])
        check(status == 200 and headers.get("Content-Type") == "application/pkcs7-mime; smime-type=certs-only",
              "the .p7c link downloads application/pkcs7-mime (certs-only)", (status, headers))
        printed = openssl("pkcs7", "-inform", "DER", "-print_certs", "-noout", data=p7c)
        subjects = printed.stdout.decode().count("subject=")
        check(printed.returncode == 0 and subjects == pem.count(b"-----BEGIN CERTIFICATE-----") and subjects >= 2,
              "openssl pkcs7 reads the .p7c: the same certificates as the PEM", printed.stdout.decode()
              + printed.stderr.decode())

        driver.get(service.url + "/lookup?q=nobody%40example.org")
        body = driver.find_element(By.TAG_NAME, "body").text
        check(driver.title == "Not found" and "nobody@example.org" in body, "an unknown address gets a 404 page",
              body)
        check(fetch(service.url + "/lookup?q=nobody%40example.org")[0] == 404, "that page's status is 404")
        driver.save_screenshot(os.path.join(results, "not-found.png"))
        driver.get(service.url + "/about")
        body = driver.find_element(By.TAG_NAME, "body").text
        check("only public data and ciphertext" in body, "/about says what the service stores", body)
        driver.save_screenshot(os.path.join(results, "about.png"))
        status, headers, _ = fetch(service.url + "/about")
        policy = headers.get("Content-Security-Policy", "")
        check(policy.startswith("default-src 'none'") and "script-src" not in policy,
              "pages are served with the strict Content-Security-Policy", policy)
        status, head_headers, empty = fetch(service.url + "/lookup?q=alice%40example.com", method="HEAD")
        check(status == 200 and empty == b"" and head_headers.get("Content-Type", "").startswith("text/html") and
              head_headers.get("Content-Security-Policy") == policy,
              "HEAD on a page: its status and header fields, no body", (status, head_headers, empty[:80]))
        status, headers, _ = fetch(service.url + "/about", method="DELETE")
        check(status == 405 and headers.get("Allow") == "GET, HEAD", "another method on a page: 405 with Allow",
              (status, headers))


def verification_flow(work, driver):
    """A verified service: the challenge mail's link, in the browser, then the lookup page."""
    os.makedirs(work)
    with Upstream() as upstream, KeyService(MAILSEAL, work, extra=["--smtp", f"127.0.0.1:{upstream.port}",
                                                                  "--mail-from", "keys@keys.test"]) as service:
        bob = Home.at(os.path.join(work, "bob"))
        made = bob.json("init", "bob@example.org", "--name", "Bob", "--service", service.url)
        mails = [m for m in upstream.take() if "bob@example.org" in m.recipients]
        found = LINK.search(mails[-1].content) if mails else None
        check(found is not None, "flow: the service mailed Bob a /verify/ link", mails)
        if found is None:
            return
        driver.get(service.url + "/lookup?q=bob%40example.org")
        check(driver.title == "Not found", "flow: a pending address has no page (404)", driver.title)
        driver.get(found.group(1).decode())
        body = driver.find_element(By.TAG_NAME, "body").text
        check(driver.title == "Confirm your address" and "bob@example.org" in body,
              "flow: the link opens the confirmation page, naming the address", body)
        driver.save_screenshot(os.path.join(results, "verify.png"))
        navigate_by(driver, driver.find_element(By.TAG_NAME, "button").click)
        body = driver.find_element(By.TAG_NAME, "body").text
        check(driver.title == "Address confirmed", "flow: the button confirms", body)
        check(not csp_complaints(driver), "flow: the browser refused nothing (the form posts to 'self')")
        driver.save_screenshot(os.path.join(results, "confirmed.png"))
        driver.get(service.url + "/")
        field = driver.find_element(By.NAME, "q")
        field.send_keys("bob@example.org")
        navigate_by(driver, field.submit)
        body = driver.find_element(By.TAG_NAME, "body").text
        check("The service proved" in body and "Not verified" not in body and "Bob" in body,
              "flow: the lookup page now says the address was proved by a mail", body)
        shown = driver.find_element(By.ID, "fingerprint").text
        check(len(shown) > len(made["fingerprint"]) and shown.startswith(made["fingerprint"] + "-"),
              "flow: it shows Bob's whole fingerprint (init printed its first part)", (shown, made["fingerprint"]))
        shot = os.path.join(results, "lookup-verified.png")
        driver.save_screenshot(shot)
        print(f"# screenshot at phone width: {shot}", flush=True)


with tempfile.TemporaryDirectory() as work:
    driver = browser()
    try:
        unverified_pages(os.path.join(work, "unverified"), driver)
        verification_flow(os.path.join(work, "verified"), driver)
    finally:
        driver.quit()
print(f"# screenshots: {results}/*.png", flush=True)

finish(minimum=31)

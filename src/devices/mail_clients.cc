#include "mailseal/devices/mail_clients.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/files.h"
#include "mailseal/common/process.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/devices/connect.h"
#include "mailseal/keyservice/client.h"

namespace mailseal::devices {

namespace {

namespace fs = std::filesystem;

// ---- Apple configuration profiles (property lists) ----

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string random_uuid() {
  Bytes bytes = crypto::random_bytes(16);
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string hex = to_hex(bytes);
  std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return std::toupper(c); });
  return fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4), hex.substr(16, 4),
                     hex.substr(20));
}

// One <dict> of a payload; values are already-formatted plist elements.
class PlistDict {
 public:
  void string(std::string_view key, std::string_view value) {
    add(key, fmt::format("<string>{}</string>", xml_escape(value)));
  }
  void integer(std::string_view key, long value) { add(key, fmt::format("<integer>{}</integer>", value)); }
  void data(std::string_view key, ByteView value) {
    std::string encoded = encode_base64(value);
    std::string lines;
    for (std::size_t i = 0; i < encoded.size(); i += 64)
      lines += "\t" + encoded.substr(i, 64) + "\n";
    add(key, "<data>\n" + lines + "</data>");
  }
  void raw(std::string_view key, std::string element) { add(key, std::move(element)); }
  std::string str() const { return "<dict>\n" + body_ + "</dict>"; }

 private:
  void add(std::string_view key, const std::string& element) {
    body_ += fmt::format("<key>{}</key>\n{}\n", xml_escape(key), element);
  }
  std::string body_;
};

// ---- Thunderbird ----

// The identities of prefs.js: id -> useremail, from lines such as
//   user_pref("mail.identity.id2.useremail", "alice@example.com");
std::map<std::string, std::string> thunderbird_identities(const std::string& prefs) {
  constexpr std::string_view prefix = "user_pref(\"mail.identity.";
  constexpr std::string_view middle = ".useremail\", \"";
  constexpr std::string_view suffix = "\");";
  std::map<std::string, std::string> out;
  std::istringstream lines(prefs);
  std::string line;
  while (std::getline(lines, line)) {
    std::string_view rest(line);
    if (!rest.starts_with(prefix))
      continue;
    rest.remove_prefix(prefix.size());
    std::size_t id_end = rest.find(middle);
    if (id_end == std::string_view::npos || id_end < 3 || !rest.starts_with("id") ||
        rest.substr(2, id_end - 2).find_first_not_of("0123456789") != std::string_view::npos)
      continue;
    std::string_view id = rest.substr(0, id_end);
    rest.remove_prefix(id_end + middle.size());
    if (!rest.ends_with(suffix))
      continue;
    rest.remove_suffix(suffix.size());
    if (rest.find_first_of("\"\\") != std::string_view::npos)
      continue;  // an escaped address is not one mailseal could have
    out[std::string(id)] = std::string(rest);
  }
  return out;
}

std::string pref_string(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

// prefs.js with `values` set: earlier lines for those names are dropped, the
// new ones appended (Thunderbird reads the file top to bottom, last wins).
std::string set_preferences(const std::string& prefs, const std::vector<std::pair<std::string, std::string>>& values) {
  std::istringstream lines(prefs);
  std::string line;
  std::string out;
  while (std::getline(lines, line)) {
    bool replaced = std::any_of(values.begin(), values.end(), [&](const auto& value) {
      return line.rfind(fmt::format("user_pref(\"{}\",", value.first), 0) == 0;
    });
    if (!replaced)
      out += line + "\n";
  }
  for (const auto& [name, value] : values)
    out += fmt::format("user_pref(\"{}\", {});\n", name, value);
  return out;
}

// A private scratch directory, removed with everything in it.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::string pattern = (fs::temp_directory_path() / "mailseal-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw Error(ErrorCode::Io, "cannot create a temporary directory");
    path_ = pattern;
  }
  ~ScratchDirectory() {
    std::error_code ignored;  // best effort: a leftover holds only encrypted data
    fs::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

void run_nss_tool(const std::vector<std::string>& arguments, std::string_view what) {
  ProcessResult result;
  try {
    result = run_process(arguments);
  } catch (const Error& error) {
    if (error.code() == ErrorCode::NotFound)
      throw Error(ErrorCode::NotFound, error.what(), "install NSS's tools: apt-get install libnss3-tools");
    throw;
  }
  if (result.exit_status != 0)
    throw Error(ErrorCode::Io, fmt::format("{} failed: {}", what, escape_for_terminal(result.output)));
}

ProcessResult run_nss_query(const std::vector<std::string>& arguments) {
  ProcessResult result = run_process(arguments);
  if (result.exit_status != 0)
    throw Error(ErrorCode::Io, fmt::format("{} failed: {}", arguments[0], escape_for_terminal(result.output)));
  return result;
}

// NSS gives every certificate of one subject the same nickname (the first it
// saw), so the name Thunderbird shows is read back from the database.
std::string nss_nickname(const std::string& database, const crypto::Certificate& certificate,
                         const std::string& fallback) {
  std::istringstream listing(run_nss_query({"certutil", "-L", "-d", database}).output);
  std::string line;
  int header = 0;
  while (std::getline(listing, line)) {
    if (header < 4) {  // a blank line, two title lines, a blank line
      ++header;
      continue;
    }
    // "NICKNAME<two or more spaces>TRUST"
    std::size_t gap = line.find("  ");
    if (gap == std::string::npos)
      continue;
    std::string nickname = line.substr(0, gap);
    std::string pem = run_nss_query({"certutil", "-L", "-d", database, "-n", nickname, "-a"}).output;
    for (const auto& candidate : crypto::Certificate::read_all(as_bytes(pem))) {
      if (candidate == certificate)
        return nickname;
    }
  }
  return fallback;
}

}  // namespace

CbcReaders ask_senders_for_cbc(Profile& profile, const Passphrase* passphrase) {
  CbcReaders result;
  const smime::Capabilities cbc = smime::Capabilities::cbc_only();
  if (profile.advertises(cbc))
    return result;
  if (!profile.holds_root()) {
    result.warnings.push_back(
        "this profile's certificates still ask senders for AES-GCM, which this client cannot read; run the same "
        "set-up on an admin device (it re-issues them), then 'mailseal sync' here");
    return result;
  }
  result.reissued = profile.advertise_capabilities(cbc, passphrase);
  auto url = remembered_service(profile.store());
  if (!url) {
    result.warnings.push_back(
        "correspondents learn the new certificates from your next signed message (no key service is configured)");
    return result;
  }
  try {
    keyservice::Client client(*url);
    publish(profile, client, passphrase);
    result.published = true;
    result.devices_updated = send_key_bundles(profile, client, passphrase);
  } catch (const Error& error) {
    result.warnings.push_back(
        fmt::format("could not update the key service: {}; run 'mailseal publish' later", error.what()));
  }
  return result;
}

std::string apple_configuration_profile(Profile& profile, const Passphrase& password, bool include_password,
                                        const Passphrase* key_passphrase) {
  const std::string identifier = "org.mailseal.profile." + profile.fingerprint().to_string(100);
  std::string payloads;
  crypto::Certificate root = profile.root_certificate();
  {
    PlistDict root_payload;
    root_payload.string("PayloadCertificateFileName", "mailseal-root.cer");
    root_payload.data("PayloadContent", root.der());
    root_payload.string("PayloadDescription", "The root of your mailseal profile: it issues your mail certificates");
    root_payload.string("PayloadDisplayName", "mailseal root " + root.common_name());
    root_payload.string("PayloadIdentifier", identifier + ".root");
    root_payload.string("PayloadType", "com.apple.security.root");
    root_payload.string("PayloadUUID", random_uuid());
    root_payload.integer("PayloadVersion", 1);
    payloads += root_payload.str() + "\n";
  }
  // Apple reads one identity per PKCS#12; the legacy protection (3DES,
  // SHA-1 MAC) is what every iOS and macOS version imports.
  for (const auto& exported :
       profile.export_pkcs12_per_key(password, crypto::Pkcs12Protection::Legacy, key_passphrase)) {
    PlistDict identity;
    if (include_password)
      identity.string("Password", password.view());
    identity.string("PayloadCertificateFileName",
                    fmt::format("{}-{}.p12", exported.address.str(), store::to_string(exported.purpose)));
    identity.data("PayloadContent", exported.data);
    identity.string("PayloadDescription",
                    fmt::format("Your S/MIME key for {} ({})", exported.address.str(), exported.friendly_name));
    identity.string("PayloadDisplayName", exported.friendly_name);
    identity.string("PayloadIdentifier",
                    fmt::format("{}.{}.{}", identifier, exported.address.str(), store::to_string(exported.purpose)));
    identity.string("PayloadType", "com.apple.security.pkcs12");
    identity.string("PayloadUUID", random_uuid());
    identity.integer("PayloadVersion", 1);
    payloads += identity.str() + "\n";
  }
  std::string addresses;
  for (const auto& address : profile.addresses())
    addresses += (addresses.empty() ? "" : ", ") + address.str();
  PlistDict top;
  top.raw("PayloadContent", "<array>\n" + payloads + "</array>");
  top.string("PayloadDescription", "S/MIME keys and certificates for " + addresses + ", made by mailseal");
  top.string("PayloadDisplayName", "mailseal: " + addresses);
  top.string("PayloadIdentifier", identifier);
  top.string("PayloadType", "Configuration");
  top.string("PayloadUUID", random_uuid());
  top.integer("PayloadVersion", 1);
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
         "<plist version=\"1.0\">\n" +
         top.str() + "\n</plist>\n";
}

std::string thunderbird_db_key(const crypto::Certificate& certificate) {
  Bytes serial = certificate.serial_der_content();
  Bytes issuer = certificate.issuer_name_der();
  Bytes key(8, 0);
  for (std::size_t length : {serial.size(), issuer.size()}) {
    for (int shift = 24; shift >= 0; shift -= 8)
      key.push_back(static_cast<std::uint8_t>((length >> shift) & 0xff));
  }
  key.insert(key.end(), serial.begin(), serial.end());
  key.insert(key.end(), issuer.begin(), issuer.end());
  return encode_base64(key);
}

ThunderbirdSetup setup_thunderbird(Profile& profile, const fs::path& directory, const Passphrase* key_passphrase,
                                   const Passphrase* database_password) {
  if (!fs::is_directory(directory))
    throw Error(ErrorCode::NotFound, fmt::format("{} is not a Thunderbird profile directory", directory.string()));
  // Thunderbird holds this link while it runs, and writes prefs.js on exit.
  std::error_code ignored;
  if (fs::is_symlink(fs::symlink_status(directory / "lock", ignored)))
    throw Error(ErrorCode::RejectedByPolicy, "Thunderbird is running with this profile", "quit Thunderbird first");
  const fs::path prefs_file = directory / "prefs.js";
  std::string prefs;
  if (fs::exists(prefs_file)) {
    Bytes bytes = read_file(prefs_file);
    prefs.assign(bytes.begin(), bytes.end());
  }

  ThunderbirdSetup setup;
  for (const auto& [id, email] : thunderbird_identities(prefs)) {
    if (!EmailAddress::is_valid(email))
      continue;
    EmailAddress address = EmailAddress::parse(email);
    if (profile.has_address(address))
      setup.identities.push_back({id, address});
  }
  if (setup.identities.empty()) {
    std::string addresses;
    for (const auto& address : profile.addresses())
      addresses += (addresses.empty() ? "" : ", ") + address.str();
    throw Error(ErrorCode::NotFound, fmt::format("no Thunderbird account in {} uses {}", directory.string(), addresses),
                "add the mail account in Thunderbird first, quit it, then run this again");
  }

  setup.cbc = ask_senders_for_cbc(profile, key_passphrase);

  // The keys travel to pk12util in PKCS#12 files under a random password,
  // in a private directory that is removed afterwards.
  ScratchDirectory scratch;
  const std::string database = "sql:" + directory.string();
  const fs::path password_file = scratch.path() / "pkcs12-password";
  const fs::path database_password_file = scratch.path() / "database-password";
  Passphrase password(to_hex(crypto::random_bytes(16)));
  write_new_file(password_file, as_bytes(std::string(password.view()) + "\n"), FileMode::Private);
  write_new_file(database_password_file,
                 as_bytes(std::string(database_password ? database_password->view() : std::string_view{}) + "\n"),
                 FileMode::Private);
  if (!fs::exists(directory / "cert9.db")) {
    std::vector<std::string> create = {"certutil", "-N", "-d", database};
    if (database_password)
      create.insert(create.end(), {"-f", database_password_file.string()});
    else
      create.push_back("--empty-password");
    run_nss_tool(create, "creating the NSS database");
  }
  crypto::Certificate root = profile.root_certificate();
  const fs::path root_file = scratch.path() / "root.pem";
  write_new_file(root_file, as_bytes(root.pem()), FileMode::Private);
  // The root first, under a name of our own and trusted for email only; the
  // PKCS#12 imports then find it there.
  run_nss_tool({"certutil", "-A", "-d", database, "-n", "mailseal root " + root.common_name(), "-t", ",C,", "-i",
                root_file.string(), "-f", database_password_file.string()},
               "adding the profile root to the NSS database");
  for (const auto& exported :
       profile.export_pkcs12_per_key(password, crypto::Pkcs12Protection::Modern, key_passphrase)) {
    const fs::path file = scratch.path() / fmt::format("{}.p12", setup.certificates.size());
    write_new_file(file, exported.data, FileMode::Private);
    run_nss_tool({"pk12util", "-i", file.string(), "-d", database, "-w", password_file.string(), "-k",
                  database_password_file.string()},
                 "importing a key into the NSS database");
    setup.certificates.push_back({exported.address, exported.purpose,
                                  nss_nickname(database, exported.certificate, exported.friendly_name),
                                  thunderbird_db_key(exported.certificate)});
  }

  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& identity : setup.identities) {
    for (const auto& certificate : setup.certificates) {
      if (certificate.address != identity.address)
        continue;
      const std::string prefix = "mail.identity." + identity.id + ".";
      if (certificate.purpose != store::KeyPurpose::Encryption) {
        values.emplace_back(prefix + "signing_cert_name", pref_string(certificate.nickname));
        values.emplace_back(prefix + "signing_cert_dbkey", pref_string(certificate.db_key));
        values.emplace_back(prefix + "sign_mail", "true");
      }
      if (certificate.purpose != store::KeyPurpose::Signing) {
        values.emplace_back(prefix + "encryption_cert_name", pref_string(certificate.nickname));
        values.emplace_back(prefix + "encryption_cert_dbkey", pref_string(certificate.db_key));
      }
    }
    // S/MIME rather than OpenPGP when both could be used (Thunderbird 78+).
    values.emplace_back("mail.identity." + identity.id + ".e2etechpref", "1");
  }
  write_file_atomic(prefs_file, as_bytes(set_preferences(prefs, values)), FileMode::Private);
  return setup;
}

MuttSetup setup_mutt(Profile& profile, const fs::path& directory) {
  ensure_private_directory(directory);
  MuttSetup setup{fs::absolute(directory), {}};
  crypto::Certificate root = profile.root_certificate();
  const fs::path root_file = setup.directory / "root.pem";
  write_file_atomic(root_file, as_bytes(root.pem()), FileMode::Public);

  std::optional<fs::path> signing_key, signing_certificate, decryption_key, decryption_certificate;
  for (const auto& key : profile.store().mail_keys()) {
    if (key.status != store::KeyStatus::Current || key.origin != store::KeyOrigin::Profile)
      continue;
    std::string stem = fmt::format("{}-{}", key.address.str(), store::to_string(key.purpose));
    const fs::path key_file = setup.directory / (stem + ".key");
    const fs::path certificate_file = setup.directory / (stem + ".pem");
    // The key exactly as stored: PKCS#8, encrypted with the passphrase if
    // the store's keys are.
    write_file_atomic(key_file, profile.store().read_key_file(key.key_file), FileMode::Private);
    std::string chain = crypto::Certificate::from_der(key.certificate).pem();
    write_file_atomic(certificate_file, as_bytes(chain), FileMode::Public);
    if (key.purpose != store::KeyPurpose::Encryption && !signing_key) {
      signing_key = key_file;
      signing_certificate = certificate_file;
    }
    if (key.purpose != store::KeyPurpose::Signing && !decryption_key) {
      decryption_key = key_file;
      decryption_certificate = certificate_file;
    }
  }
  if (!decryption_key)
    throw Error(ErrorCode::NotFound, "this profile has no current mail keys of its own");

  // mutt hands the passphrase on standard input; an unencrypted key reads
  // the same with -passin stdin (the input is ignored).
  std::string lines = "# mutt/neomutt with OpenSSL S/MIME, written by 'mailseal setup mutt'\n";
  lines += "set crypt_use_gpgme = no\nset smime_is_default = yes\nset crypt_autosign = ";
  lines += signing_key ? "yes\n" : "no\n";
  lines += "set crypt_replysign = yes\nset crypt_replyencrypt = yes\nset crypt_verify_sig = yes\n";
  lines += fmt::format("set smime_ca_location = \"{}\"\n", root_file.string());
  if (signing_key) {
    // openssl cms signs detached by default, as multipart/signed needs.
    lines += fmt::format(
        "set smime_sign_command = \"openssl cms -sign -md %d -signer {} -inkey {} -passin stdin -certfile {} -in %f "
        "-outform DER\"\n",
        signing_certificate->string(), signing_key->string(), root_file.string());
  }
  lines += fmt::format(
      "set smime_decrypt_command = \"openssl cms -decrypt -passin stdin -inform DER -in %f -inkey {} -recip {}\"\n",
      decryption_key->string(), decryption_certificate->string());
  lines += "set smime_verify_command = \"openssl cms -verify -inform DER -in %s %C -content %f\"\n";
  lines += "set smime_verify_opaque_command = \"openssl cms -verify -inform DER -in %s %C\"\n";
  lines += "set smime_encrypt_command = \"openssl cms -encrypt -aes256 -outform DER -in %f %c\"\n";
  lines += "set smime_encrypt_with = \"aes256\"\n";
  lines += "set smime_pk7out_command = \"openssl cms -cmsout -print_certs -inform DER -in %f\"\n";
  lines += "set smime_get_cert_command = \"openssl pkcs7 -print_certs -in %f\"\n";
  lines += "set smime_get_signer_cert_command = \"openssl cms -verify -in %f -noverify -signer %c -out /dev/null\"\n";
  lines += "set smime_get_cert_email_command = \"openssl x509 -in %f -noout -email\"\n";
  setup.configuration = std::move(lines);
  return setup;
}

}  // namespace mailseal::devices

// mutt and neomutt with OpenSSL's S/MIME commands.

#include <fmt/format.h>

#include "clients/internal/setups.h"
#include "mailseal/clients/mail_clients.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/common/host_port.h"

namespace mailseal::clients {

namespace fs = std::filesystem;

namespace {

// A muttrc string value in double quotes: backslash and quote escaped.
std::string muttrc_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\' || c == '`' || c == '$')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

// gateway.muttrc: where mutt submits, with the credential's secret.
fs::path write_submission(const fs::path& directory, const MuttSubmission& submission) {
  parse_host_port(submission.gateway);  // Error(Usage) unless HOST:PORT
  std::string text = "# mutt submits through the mailseal gateway, written by 'mailseal setup mutt' (keep it 0600)\n";
  text += fmt::format("set smtp_url = {}\n",
                      muttrc_string(fmt::format("smtp://{}@{}/", submission.user, submission.gateway)));
  text += fmt::format("set smtp_pass = {}\n", muttrc_string(submission.secret));
  const fs::path file = directory / "gateway.muttrc";
  write_file_atomic(file, as_bytes(text), FileMode::Private);
  secure_wipe(text.data(), text.size());
  return file;
}

}  // namespace

MuttSetup setup_mutt(profile::Profile& profile, const fs::path& directory, const MuttSubmission* submission,
                     TimePoint now) {
  ensure_private_directory(directory);
  MuttSetup setup{fs::absolute(directory), {}, {}};
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
  setup.submission_file =
      submission ? write_submission(setup.directory, *submission) : setup.directory / "gateway.muttrc";
  lines += fmt::format("source {}\n", muttrc_string(setup.submission_file.string()));
  setup.configuration = std::move(lines);
  internal::remember_setup(profile, kMuttClient, setup.directory, now);
  return setup;
}

}  // namespace mailseal::clients

//! Content: a file version as a standard age v1 file, encrypted to its file key. **This is where a file is encrypted** ([`encrypt`]).

use super::*;

/// Encrypts `input` to `key` as an age v1 file written to `output`; returns the plaintext
/// length. Memory stays at a few chunks whatever the size.
pub fn encrypt<R: Read, W: Write>(key: &FileKey, input: R, output: W) -> Result<u64, FileError> {
    encrypt_to(&key.0.to_public(), input, output)
}

/// Encrypts `input` as an age v1 file for an age recipient (`age1…`), for export.
pub fn encrypt_for_recipient<R: Read, W: Write>(recipient: &str, input: R, output: W) -> Result<u64, FileError> {
    let r: age::x25519::Recipient = recipient
        .trim()
        .parse()
        .map_err(|e: &str| FileError::BadRecipient(e.to_owned()))?;
    encrypt_to(&r, input, output)
}

fn encrypt_to<R: Read, W: Write>(recipient: &age::x25519::Recipient, mut input: R, output: W) -> Result<u64, FileError> {
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
        .map_err(|e| FileError::Io(std::io::Error::other(e.to_string())))?;
    let mut writer = encryptor.wrap_output(output)?;
    let n = std::io::copy(&mut input, &mut writer)?;
    writer.finish()?;
    Ok(n)
}

/// Decrypts an age v1 file made by [`encrypt`] into `output`; returns the plaintext length.
/// Anything that fails age's checks is [`FileError::Content`]; `output` may then hold a
/// prefix, so callers write to a temporary file and keep it only on success.
pub fn decrypt<R: Read, W: Write>(key: &FileKey, input: R, mut output: W) -> Result<u64, FileError> {
    let decryptor = age::Decryptor::new(input).map_err(|_| FileError::Content)?;
    let mut reader = decryptor
        .decrypt(std::iter::once(&key.0 as &dyn age::Identity))
        .map_err(|_| FileError::Content)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData || e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(FileError::Content);
            }
            Err(e) => return Err(FileError::Io(e)),
        };
        output.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok(total)
}

/// Decrypts a file made by [`encrypt`] and encrypts it again for an age recipient
/// (`age1…`) in one pass: the export to a standard age file. Returns the plaintext length.
pub fn reencrypt_for_recipient<R: Read, W: Write>(key: &FileKey, recipient: &str, input: R, output: W) -> Result<u64, FileError> {
    let r: age::x25519::Recipient = recipient
        .trim()
        .parse()
        .map_err(|e: &str| FileError::BadRecipient(e.to_owned()))?;
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
        .map_err(|e| FileError::Io(std::io::Error::other(e.to_string())))?;
    let mut writer = encryptor.wrap_output(output)?;
    let n = decrypt(key, input, &mut writer)?;
    writer.finish()?;
    Ok(n)
}

//! `apikey-sts hash-password`: reads one password line on stdin and prints the PBKDF2 value to
//! put in `[b7a.users.NAME] password`.

use super::Error;
use apikey_sts::auth;
use std::io::Read;

/// Longest password read.
const MAX_PASSWORD_BYTES: usize = 4096;

pub fn main(iterations: u32) -> Result<(), Error> {
    let mut input = zeroize::Zeroizing::new(Vec::new());
    std::io::stdin()
        .take(MAX_PASSWORD_BYTES as u64 + 1)
        .read_to_end(&mut input)
        .map_err(Error::PasswordStdin)?;
    if input.len() > MAX_PASSWORD_BYTES {
        return Err(Error::PasswordTooLong(MAX_PASSWORD_BYTES));
    }
    // One line: drop the newline that `echo` or a terminal adds.
    let mut password: &[u8] = &input;
    for suffix in [&b"\n"[..], b"\r"] {
        password = password.strip_suffix(suffix).unwrap_or(password);
    }
    if password.is_empty() {
        return Err(Error::PasswordEmpty);
    }
    println!(
        "{}",
        auth::hash_password(password, iterations).map_err(Error::Rng)?
    );
    Ok(())
}

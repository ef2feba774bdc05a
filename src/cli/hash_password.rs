//! `apikey-sts hash-password`: reads one password and prints the PBKDF2 value to put in
//! `[b7a.users.NAME] password`. At a terminal it asks twice with echo off; otherwise it reads
//! stdin, so `printf '%s' "$PW" | apikey-sts hash-password` works in scripts.
//!
//! Echo is turned off by running `stty` on the terminal rather than through a termios crate:
//! `stty` is part of every POSIX system that has a terminal, the crate stays free of `unsafe`,
//! and no dependency is added for a few lines.

use super::Error;
use apikey_sts::auth;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::{Command, Stdio};
use zeroize::Zeroizing;

/// Longest password read.
const MAX_PASSWORD_BYTES: usize = 4096;

pub fn main(iterations: u32) -> Result<(), Error> {
    let input = if std::io::stdin().is_terminal() {
        from_terminal()?
    } else {
        let mut input = Zeroizing::new(Vec::new());
        std::io::stdin()
            .take(MAX_PASSWORD_BYTES as u64 + 1)
            .read_to_end(&mut input)
            .map_err(Error::PasswordStdin)?;
        input
    };
    let password = one_line(&input)?;
    println!(
        "{}",
        auth::hash_password(password, iterations).map_err(Error::Rng)?
    );
    Ok(())
}

/// The password without the newline that `echo` or a terminal adds; refused when empty or
/// too long.
fn one_line(input: &[u8]) -> Result<&[u8], Error> {
    if input.len() > MAX_PASSWORD_BYTES {
        return Err(Error::PasswordTooLong(MAX_PASSWORD_BYTES));
    }
    let mut password = input;
    for suffix in [&b"\n"[..], b"\r"] {
        password = password.strip_suffix(suffix).unwrap_or(password);
    }
    if password.is_empty() {
        return Err(Error::PasswordEmpty);
    }
    Ok(password)
}

/// Asks for the password twice with echo off; the two must match.
fn from_terminal() -> Result<Zeroizing<Vec<u8>>, Error> {
    let _echo = EchoOff::new()?;
    let first = prompt("New password: ")?;
    let second = prompt("Repeat it: ")?;
    if one_line(&first)? != one_line(&second)? {
        return Err(Error::PasswordMismatch);
    }
    Ok(first)
}

/// One line from the terminal, after `text` on stderr (stdout carries only the result).
fn prompt(text: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut err = std::io::stderr();
    // The prompt is a courtesy: a closed stderr does not stop the reading.
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
    let mut line = Zeroizing::new(Vec::new());
    std::io::stdin()
        .lock()
        .take(MAX_PASSWORD_BYTES as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(Error::PasswordStdin)?;
    // The Enter that ended the line was not echoed either.
    let _ = err.write_all(b"\n");
    Ok(line)
}

/// Terminal echo turned off for as long as this lives; the saved settings are restored on drop.
struct EchoOff {
    saved: String,
}

impl EchoOff {
    fn new() -> Result<EchoOff, Error> {
        let saved = stty(&["-g"])?;
        stty(&["-echo"])?;
        Ok(EchoOff {
            saved: saved.trim().to_string(),
        })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // Nothing more can be done if this fails; the user's `stty sane` is the remedy.
        let _ = stty(&[&self.saved]);
    }
}

/// Runs `stty` on our terminal (its stdin is ours) and returns what it printed.
fn stty(args: &[&str]) -> Result<String, Error> {
    let out = Command::new("stty")
        .args(args)
        .stdin(Stdio::inherit())
        .stderr(Stdio::null())
        .output()
        .map_err(Error::TerminalEcho)?;
    if !out.status.success() {
        return Err(Error::TerminalEcho(std::io::Error::other(format!(
            "stty {} exited with {}",
            args.join(" "),
            out.status
        ))));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

//! Connections to Redis from the config: the URL, TLS trust and timeouts.

use super::*;

/// A connection to Redis with the configured timeouts.
pub(super) struct Link {
    client: redis::Client,
    password: Option<String>,
    connect_timeout: Duration,
    pub(super) timeout: Duration,
}

impl Link {
    pub(super) fn connect(&self, read_timeout: Duration) -> Result<redis::Connection, StoreError> {
        let err = |e: redis::RedisError| store_error(&e, self.password.as_deref());
        let con = self
            .client
            .get_connection_with_timeout(self.connect_timeout)
            .map_err(err)?;
        con.set_read_timeout(Some(read_timeout)).map_err(err)?;
        con.set_write_timeout(Some(self.timeout)).map_err(err)?;
        Ok(con)
    }

    pub(super) fn err(&self) -> impl Fn(redis::RedisError) -> StoreError + '_ {
        move |e| store_error(&e, self.password.as_deref())
    }
}

/// Most bytes read from `redisCaFile`.
pub const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// Why a Redis client could not be made from the config.
#[derive(Debug)]
pub enum ClientError {
    BadUrl,
    CaFile {
        path: String,
        error: std::io::Error,
    },
    CaTooLarge {
        path: String,
    },
    /// The file holds no certificate the TLS client accepts.
    CaInvalid {
        path: String,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::BadUrl => write!(f, "redisUrl is not a valid Redis URL"),
            ClientError::CaFile { path, error } => write!(f, "redisCaFile {path}: {error}"),
            ClientError::CaTooLarge { path } => write!(
                f,
                "redisCaFile {path}: over the {MAX_CA_FILE_BYTES}-byte limit"
            ),
            ClientError::CaInvalid { path } => {
                write!(f, "redisCaFile {path}: no usable PEM certificate")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// A client for `config`: `rediss://` checks the server's certificate against `redisCaFile`,
/// or the system's trust store without it.
pub fn client(config: &RedisConfig) -> Result<redis::Client, ClientError> {
    let plain = redis::Client::open(config.url.expose()).map_err(|_| ClientError::BadUrl)?;
    let Some(ca) = &config.ca_file else {
        return Ok(plain);
    };
    let path = ca.display().to_string();
    let meta = std::fs::metadata(ca).map_err(|error| ClientError::CaFile {
        path: path.clone(),
        error,
    })?;
    if meta.len() > MAX_CA_FILE_BYTES {
        return Err(ClientError::CaTooLarge { path });
    }
    let pem = std::fs::read(ca).map_err(|error| ClientError::CaFile {
        path: path.clone(),
        error,
    })?;
    // An empty trust store would fail every handshake as "unknown issuer": say it here.
    {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&pem);
        if certs.filter(Result::is_ok).count() == 0 {
            return Err(ClientError::CaInvalid { path });
        }
    }
    redis::Client::build_with_tls(
        config.url.expose(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        },
    )
    .map_err(|_| ClientError::CaInvalid { path })
}

pub(super) fn link(config: &RedisConfig) -> Result<Link, ClientError> {
    let client = client(config)?;
    Ok(Link {
        client,
        password: url_password(config.url.expose()).map(str::to_string),
        connect_timeout: config.connect_timeout,
        timeout: config.timeout,
    })
}

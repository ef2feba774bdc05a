//! A real nginx for gateway tests: foreground, single process, everything under its own temp
//! prefix, stopped (by its child handle) on drop.

use super::{path_str, TempDir};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An nginx config: an upstream at `@UPSTREAM@` that echoes what the gateway forwarded, and the
/// gateway at `@GATEWAY@` with the `location`s at `@LOCATIONS@`; `@DIR@` is the prefix.
pub const GATEWAY_CONF: &str = r#"
daemon off;
master_process off;
worker_processes 1;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log info;
events { worker_connections 64; }
http {
    access_log @DIR@/access.log;
    client_body_temp_path @DIR@/tmp-body;
    proxy_temp_path @DIR@/tmp-proxy;
    fastcgi_temp_path @DIR@/tmp-fastcgi;
    uwsgi_temp_path @DIR@/tmp-uwsgi;
    scgi_temp_path @DIR@/tmp-scgi;

    # The protected upstream: says what identity the gateway forwarded.
    server {
        listen 127.0.0.1:@UPSTREAM@;
        location / {
            return 200 "upstream $uri sub=$http_x_auth_subject type=$http_x_auth_key_type\n";
        }
    }

    # The gateway.
    server {
        listen 127.0.0.1:@GATEWAY@;
@LOCATIONS@
    }
}
"#;

pub fn nginx_bin() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Nginx {
    pub child: Child,
    /// Where the gateway server listens.
    pub addr: SocketAddr,
    pub dir: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// Runs nginx on `conf`, in which `@DIR@` becomes the prefix directory, and waits until
    /// `gateway` accepts connections.
    pub fn launch(conf: &str, gateway: SocketAddr) -> Nginx {
        super::require_tool(nginx_bin().is_some(), "nginx");
        let bin = nginx_bin().unwrap();
        let dir = TempDir::new("nginx");
        let conf_path = dir.write("nginx.conf", conf.replace("@DIR@", path_str(&dir.0)));
        let child = Command::new(&bin)
            .arg("-p")
            .arg(&dir.0)
            .arg("-e")
            .arg(dir.0.join("startup.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let mut n = Nginx {
            child,
            addr: gateway,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(n.addr).is_err() {
            let exited = n.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                panic!("nginx did not start ({exited:?}):\n{}", n.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    }

    pub fn get(&self, target: &str, headers: &str) -> super::Resp {
        super::plain_get(self.addr, target, headers)
    }

    pub fn logs(&self) -> String {
        ["startup.log", "error.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.0.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

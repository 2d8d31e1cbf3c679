//! One blocking connection speaking the PostgreSQL frontend/backend protocol (version 3.0)
//! over a `TcpStream` or (on Unix) a `UnixStream`, with `postgres-protocol` encoding and parsing the
//! messages and doing the SCRAM-SHA-256 / MD5 arithmetic.
//!
//! Only what the sink needs: start-up and authentication (SCRAM-SHA-256, MD5, cleartext),
//! simple queries whose result is text, and `COPY … FROM STDIN` with the whole input
//! pipelined behind the statement (one round trip per batch; a server that rejects the
//! statement ignores the `CopyData`/`CopyDone` that follow, as the protocol specifies).
//! No TLS. Every read and write has a timeout, so a server that stops answering surfaces as an
//! error within `io_timeout` instead of a hang.
//!
//! The connection is only ever used by the thread that owns the sink (the drain, or the
//! installing thread during `start`).

use crate::config::{Endpoint, PostgresConfig};
use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::{backend, frontend};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;

/// An error reported by the server (an `ErrorResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerError {
    pub severity: String,
    /// SQLSTATE.
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl ServerError {
    fn parse(body: &backend::ErrorResponseBody) -> ServerError {
        let mut e = ServerError {
            severity: String::new(),
            code: String::new(),
            message: String::new(),
            detail: None,
            hint: None,
        };
        let mut fields = body.fields();
        while let Ok(Some(f)) = fields.next() {
            let v = String::from_utf8_lossy(f.value_bytes()).into_owned();
            match f.type_() {
                b'V' => e.severity = v,
                b'S' if e.severity.is_empty() => e.severity = v,
                b'C' => e.code = v,
                b'M' => e.message = v,
                b'D' => e.detail = Some(v),
                b'H' => e.hint = Some(v),
                _ => {}
            }
        }
        e
    }

    /// Whether trying again later (on a new connection) may succeed: connection exceptions,
    /// operator intervention (shutdown, restart, "starting up"), insufficient resources,
    /// transaction rollbacks (serialization failure, deadlock).
    pub(crate) fn is_transient(&self) -> bool {
        ["08", "57", "53", "40"].iter().any(|class| self.code.starts_with(class))
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server {} {}: {}", self.severity, self.code, self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " (detail: {d})")?;
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// What went wrong talking to the server.
#[derive(Debug)]
pub(crate) enum ConnError {
    /// Connecting, reading or writing failed (the connection is unusable).
    Io { during: &'static str, error: io::Error },
    /// The server said no; `fatal` when the session ended with it (a `FATAL` error during
    /// start-up or an administrator's termination).
    Server(ServerError),
    /// The server sent something this client does not expect, or authentication could not
    /// proceed (the connection is unusable).
    Protocol(String),
}

impl ConnError {
    fn io(during: &'static str) -> impl FnOnce(io::Error) -> ConnError {
        move |error| ConnError::Io { during, error }
    }

    /// Whether the connection is still usable after this error.
    pub(crate) fn connection_usable(&self) -> bool {
        matches!(self, ConnError::Server(e) if e.severity == "ERROR" && !e.is_transient())
    }
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Io { during, error } => write!(f, "{during}: {error}"),
            ConnError::Server(e) => e.fmt(f),
            ConnError::Protocol(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConnError {}

enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a `COPY` ended when it did not succeed.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The server did not commit the rows (it reported an error, or the connection failed
    /// before `CopyDone` was sent). `usable`: the connection can run the next statement.
    NotWritten { error: ConnError, usable: bool },
    /// The connection failed after `CopyDone` was (possibly) sent and before the server's
    /// answer arrived: the rows may or may not be committed.
    Unknown(ConnError),
}

/// A logged-in session.
pub(crate) struct Conn {
    stream: Stream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// The server's `server_version` parameter.
    pub server_version: String,
    /// How the server authenticated us: `none`, `cleartext`, `MD5` or `SCRAM-SHA-256`.
    pub auth_method: &'static str,
    /// The server process serving this session (`BackendKeyData`).
    pub backend_pid: i32,
    /// When that process started (`pg_stat_activity.backend_start`, as text), if the sink
    /// asked: with the pid it identifies the session even if the OS reuses the pid.
    pub backend_start: Option<String>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("server_version", &self.server_version)
            .field("auth_method", &self.auth_method)
            .finish_non_exhaustive()
    }
}

fn open(config: &PostgresConfig) -> Result<Stream, ConnError> {
    match &config.endpoint {
        Endpoint::Tcp(host) => {
            let addrs = (host.as_str(), config.port).to_socket_addrs().map_err(ConnError::io("resolving the host"))?;
            let mut last = None;
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, config.connect_timeout) {
                    Ok(s) => {
                        s.set_read_timeout(Some(config.io_timeout)).map_err(ConnError::io("configuring the socket"))?;
                        s.set_write_timeout(Some(config.io_timeout))
                            .map_err(ConnError::io("configuring the socket"))?;
                        let _ = s.set_nodelay(true);
                        return Ok(Stream::Tcp(s));
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(ConnError::Io {
                during: "connecting",
                error: last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the host has no address")),
            })
        }
        // Refused by `PostgresConfig::validate` off Unix; this arm only keeps the match whole.
        #[cfg(not(unix))]
        Endpoint::Unix(dir) => Err(ConnError::Io {
            during: "connecting to the unix socket",
            error: io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{}: unix sockets are unsupported on this platform", dir.display()),
            ),
        }),
        #[cfg(unix)]
        Endpoint::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{}", config.port));
            let s = UnixStream::connect(&path).map_err(ConnError::io("connecting to the unix socket"))?;
            s.set_read_timeout(Some(config.io_timeout)).map_err(ConnError::io("configuring the socket"))?;
            s.set_write_timeout(Some(config.io_timeout)).map_err(ConnError::io("configuring the socket"))?;
            Ok(Stream::Unix(s))
        }
    }
}

impl Conn {
    /// Connects, logs in and waits until the server is ready for queries.
    pub(crate) fn connect(config: &PostgresConfig) -> Result<Conn, ConnError> {
        let stream = open(config)?;
        let mut conn = Conn {
            stream,
            rbuf: BytesMut::with_capacity(8192),
            wbuf: BytesMut::new(),
            server_version: String::new(),
            auth_method: "none",
            backend_pid: 0,
            backend_start: None,
        };
        let params = [
            ("user", config.user.as_str()),
            ("database", config.effective_dbname()),
            ("client_encoding", "UTF8"),
            ("application_name", config.application_name.as_str()),
        ];
        frontend::startup_message(params.iter().copied(), &mut conn.wbuf)
            .map_err(|e| ConnError::Protocol(format!("cannot encode the start-up message: {e}")))?;
        conn.send("sending the start-up message")?;
        conn.authenticate(config)?;
        loop {
            match conn.read("waiting for the server to be ready")? {
                backend::Message::ReadyForQuery(_) => return Ok(conn),
                backend::Message::ParameterStatus(p) => {
                    if let (Ok("server_version"), Ok(v)) = (p.name(), p.value()) {
                        conn.server_version = v.to_string();
                    }
                }
                backend::Message::BackendKeyData(k) => conn.backend_pid = k.process_id(),
                backend::Message::ErrorResponse(e) => return Err(ConnError::Server(ServerError::parse(&e))),
                _ => {}
            }
        }
    }

    fn authenticate(&mut self, config: &PostgresConfig) -> Result<(), ConnError> {
        let password = || {
            config.password.as_ref().map(|p| p.expose().as_bytes()).ok_or_else(|| {
                ConnError::Protocol(format!(
                    "the server asks for a password for user {:?} but none is configured",
                    config.user
                ))
            })
        };
        let encode = |e: io::Error| ConnError::Protocol(format!("cannot encode an authentication message: {e}"));
        loop {
            match self.read("authenticating")? {
                backend::Message::AuthenticationOk => return Ok(()),
                backend::Message::AuthenticationCleartextPassword => {
                    self.auth_method = "cleartext";
                    frontend::password_message(password()?, &mut self.wbuf).map_err(encode)?;
                    self.send("sending the password")?;
                }
                backend::Message::AuthenticationMd5Password(body) => {
                    self.auth_method = "MD5";
                    let hash = md5_hash(config.user.as_bytes(), password()?, body.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.wbuf).map_err(encode)?;
                    self.send("sending the password")?;
                }
                backend::Message::AuthenticationSasl(body) => {
                    let mut mechanisms = body.mechanisms();
                    let mut scram = false;
                    while let Ok(Some(m)) = mechanisms.next() {
                        scram |= m == sasl::SCRAM_SHA_256;
                    }
                    if !scram {
                        return Err(ConnError::Protocol(
                            "the server offers no SASL mechanism this client supports (SCRAM-SHA-256 without \
                             channel binding)"
                                .into(),
                        ));
                    }
                    self.auth_method = "SCRAM-SHA-256";
                    self.scram(password()?)?;
                }
                backend::Message::ErrorResponse(e) => return Err(ConnError::Server(ServerError::parse(&e))),
                _ => {
                    return Err(ConnError::Protocol(
                        "the server asks for an authentication method this client does not support (supported: \
                         SCRAM-SHA-256, MD5, cleartext password)"
                            .into(),
                    ))
                }
            }
        }
    }

    fn scram(&mut self, password: &[u8]) -> Result<(), ConnError> {
        let bad = |e: io::Error| ConnError::Protocol(format!("SCRAM-SHA-256 authentication failed: {e}"));
        let mut scram = sasl::ScramSha256::new(password, sasl::ChannelBinding::unsupported());
        frontend::sasl_initial_response(sasl::SCRAM_SHA_256, scram.message(), &mut self.wbuf).map_err(bad)?;
        self.send("authenticating")?;
        match self.read("authenticating")? {
            backend::Message::AuthenticationSaslContinue(body) => scram.update(body.data()).map_err(bad)?,
            backend::Message::ErrorResponse(e) => return Err(ConnError::Server(ServerError::parse(&e))),
            _ => return Err(ConnError::Protocol("unexpected message during SCRAM-SHA-256 authentication".into())),
        }
        frontend::sasl_response(scram.message(), &mut self.wbuf).map_err(bad)?;
        self.send("authenticating")?;
        match self.read("authenticating")? {
            backend::Message::AuthenticationSaslFinal(body) => scram.finish(body.data()).map_err(bad),
            backend::Message::ErrorResponse(e) => Err(ConnError::Server(ServerError::parse(&e))),
            _ => Err(ConnError::Protocol("unexpected message during SCRAM-SHA-256 authentication".into())),
        }
    }

    /// Writes and clears the write buffer.
    fn send(&mut self, during: &'static str) -> Result<(), ConnError> {
        let r = self.stream.write_all(&self.wbuf).map_err(ConnError::io(during));
        self.wbuf.clear();
        r
    }

    /// Reads the next message (skipping notices and notifications).
    fn read(&mut self, during: &'static str) -> Result<backend::Message, ConnError> {
        loop {
            match backend::Message::parse(&mut self.rbuf) {
                Ok(Some(backend::Message::NoticeResponse(_) | backend::Message::NotificationResponse(_))) => continue,
                Ok(Some(m)) => return Ok(m),
                Ok(None) => {}
                Err(e) => return Err(ConnError::Protocol(format!("malformed message from the server: {e}"))),
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).map_err(ConnError::io(during))?;
            if n == 0 {
                return Err(ConnError::Io {
                    during,
                    error: io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"),
                });
            }
            self.rbuf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Runs `sql` (one or more statements) and returns the rows of the last result as text.
    pub(crate) fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ConnError> {
        frontend::query(sql, &mut self.wbuf)
            .map_err(|e| ConnError::Protocol(format!("cannot encode the query: {e}")))?;
        self.send("sending a query")?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.read("waiting for a query's result")? {
                backend::Message::RowDescription(_) => rows.clear(),
                backend::Message::DataRow(row) => {
                    let buf = row.buffer();
                    let mut values = Vec::new();
                    let mut ranges = row.ranges();
                    while let Some(r) =
                        ranges.next().map_err(|e| ConnError::Protocol(format!("malformed row from the server: {e}")))?
                    {
                        values.push(r.map(|r| String::from_utf8_lossy(&buf[r]).into_owned()));
                    }
                    rows.push(values);
                }
                backend::Message::ErrorResponse(e) => error = Some(ServerError::parse(&e)),
                backend::Message::ReadyForQuery(_) => {
                    return match error {
                        Some(e) => Err(ConnError::Server(e)),
                        None => Ok(rows),
                    }
                }
                backend::Message::CopyInResponse(_) => {
                    // Not expected from our queries; end the copy so the session stays usable.
                    frontend::copy_fail("unexpected COPY", &mut self.wbuf)
                        .map_err(|e| ConnError::Protocol(format!("cannot encode CopyFail: {e}")))?;
                    self.send("aborting an unexpected COPY")?;
                }
                _ => {}
            }
        }
    }

    /// Runs `copy_sql` (a `COPY … FROM STDIN`) with `data` (`CopyData` messages and the final
    /// `CopyDone`) sent right behind it, and returns the row count the server reports.
    pub(crate) fn copy_in(&mut self, copy_sql: &str, data: &[u8]) -> Result<u64, CopyError> {
        let not_written = |error| CopyError::NotWritten { error, usable: false };
        frontend::query(copy_sql, &mut self.wbuf)
            .map_err(|e| not_written(ConnError::Protocol(format!("cannot encode the COPY statement: {e}"))))?;
        self.send("sending the COPY statement").map_err(not_written)?;
        // Everything but the 5-byte CopyDone: if this fails the server never sees CopyDone and
        // rolls the COPY back when the connection drops.
        let (rows, done) = data.split_at(data.len().saturating_sub(5));
        self.stream.write_all(rows).map_err(ConnError::io("sending COPY data")).map_err(not_written)?;
        // From here on, a failure leaves the outcome unknown.
        self.stream.write_all(done).map_err(ConnError::io("sending CopyDone")).map_err(CopyError::Unknown)?;
        let mut count = None;
        let mut error = None;
        loop {
            let m = match self.read("waiting for the COPY to complete") {
                Ok(m) => m,
                // The server commits before it sends CommandComplete: the rows are in.
                Err(_) if count.is_some() => return Ok(count.unwrap_or(0)),
                // The server refused the COPY before the connection went: rolled back.
                Err(e) if error.is_some() => return Err(not_written(e)),
                Err(e) => return Err(CopyError::Unknown(e)),
            };
            match m {
                backend::Message::CopyInResponse(_) => {}
                backend::Message::CommandComplete(c) => {
                    let tag = c.tag().unwrap_or("");
                    count = Some(tag.strip_prefix("COPY ").and_then(|n| n.trim().parse::<u64>().ok()).unwrap_or(0));
                }
                backend::Message::ErrorResponse(e) => error = Some(ServerError::parse(&e)),
                backend::Message::ReadyForQuery(_) => {
                    return match (count, error) {
                        (Some(n), _) => Ok(n),
                        (None, Some(e)) => {
                            let error = ConnError::Server(e);
                            let usable = error.connection_usable();
                            Err(CopyError::NotWritten { error, usable })
                        }
                        (None, None) => Err(CopyError::Unknown(ConnError::Protocol(
                            "the server ended the COPY without completing it or reporting an error".into(),
                        ))),
                    };
                }
                _ => {}
            }
        }
    }

    /// Says goodbye (best effort).
    pub(crate) fn terminate(mut self) {
        frontend::terminate(&mut self.wbuf);
        let _ = self.send("terminating");
    }
}

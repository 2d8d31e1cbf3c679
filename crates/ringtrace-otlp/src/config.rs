//! The exporter's configuration: a by-value [`OtlpBuilder`] with a documented default for every
//! setting, validated as a whole by [`OtlpBuilder::build`].
//!
//! Validation happens before anything is sent: every invalid value gives a [`ConfigError`]
//! naming the field, the value and what is allowed. Header *values* are secrets (API keys,
//! `Authorization: Bearer …`): they never appear in `Debug` output or in errors, only their
//! names do.

use std::fmt;
use std::time::Duration;

/// Default endpoint: a local OpenTelemetry Collector's OTLP/HTTP receiver.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4318";
/// Default `service.name` resource attribute (the OpenTelemetry default for an unnamed service).
pub const DEFAULT_SERVICE_NAME: &str = "unknown_service";
/// Default most log records per request; the default drain batch (1024 events) is one request.
pub const DEFAULT_MAX_EVENTS_PER_REQUEST: usize = 1024;
/// Largest allowed `max_events_per_request`.
pub const MAX_EVENTS_PER_REQUEST_LIMIT: usize = 1 << 20;
/// Default timeout for each phase of one attempt (sending the request, waiting for the
/// response, reading it). Name lookup uses the system resolver's own timeouts.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout for establishing a connection, per attempt.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default retries after the first attempt of a request.
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// Largest allowed `max_retries`.
pub const MAX_RETRIES_LIMIT: u32 = 100;
/// Default delay before the first retry (doubled for every later one, with jitter).
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Default cap on the computed backoff delay.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Default cap on a server's `Retry-After` delay.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Default sink name (in reports, metrics and diagnostics).
pub const DEFAULT_SINK_NAME: &str = "otlp";

/// The body encoding of export requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Binary protobuf (`Content-Type: application/x-protobuf`): smaller and faster; what
    /// OTLP/HTTP clients use by default.
    #[default]
    Protobuf,
    /// OTLP/JSON (`Content-Type: application/json`): protobuf's JSON mapping with the OTLP
    /// rules (lowerCamelCase keys, 64-bit integers as decimal strings, enums as numbers,
    /// trace and span ids as hex).
    Json,
}

impl Protocol {
    /// The `Content-Type` header value.
    pub const fn content_type(self) -> &'static str {
        match self {
            Protocol::Protobuf => "application/x-protobuf",
            Protocol::Json => "application/json",
        }
    }
}

/// Body compression of export requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Gzip (`Content-Encoding: gzip`), at flate2's fastest level: the drain thread does the
    /// compressing, and the fast level keeps most of the size reduction for a fraction of
    /// the time.
    #[default]
    Gzip,
    /// No compression.
    None,
}

/// A resource attribute value (the resource describes the service that produced the logs).
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    /// A string.
    Str(String),
    /// A signed 64-bit integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for AttributeValue {
    fn from(s: &str) -> Self {
        AttributeValue::Str(s.to_owned())
    }
}

impl From<String> for AttributeValue {
    fn from(s: String) -> Self {
        AttributeValue::Str(s)
    }
}

impl From<i64> for AttributeValue {
    fn from(v: i64) -> Self {
        AttributeValue::Int(v)
    }
}

impl From<f64> for AttributeValue {
    fn from(v: f64) -> Self {
        AttributeValue::Double(v)
    }
}

impl From<bool> for AttributeValue {
    fn from(v: bool) -> Self {
        AttributeValue::Bool(v)
    }
}

/// An invalid setting: the field, the value (or a description of it, never a header value)
/// and what is allowed.
///
/// ```
/// let err = ringtrace_otlp::OtlpSink::builder().endpoint("localhost:4318").build().unwrap_err();
/// assert_eq!(err.field(), "endpoint");
/// assert_eq!(
///     err.to_string(),
///     "invalid otlp endpoint \"localhost:4318\": allowed: an absolute http:// URL with a host, \
///      such as http://127.0.0.1:4318 (no query or fragment)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    value: String,
    allowed: String,
}

impl ConfigError {
    fn new(field: &'static str, value: impl Into<String>, allowed: impl Into<String>) -> Self {
        Self { field, value: value.into(), allowed: allowed.into() }
    }

    /// The setting that is invalid.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rejected value as text (for headers: the header's name, never its value).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the setting allows.
    pub fn allowed(&self) -> &str {
        &self.allowed
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid otlp {} {:?}: allowed: {}", self.field, self.value, self.allowed)
    }
}

impl std::error::Error for ConfigError {}

/// An HTTP header whose value is secret: `Debug` shows the name only.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) name: String,
    pub(crate) value: String,
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: <redacted>", self.name)
    }
}

/// Retry settings: how often and how long a failed request is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: no retry).
    pub max_retries: u32,
    /// Delay before the first retry; each later retry doubles it, up to `max_backoff`. The
    /// delay actually slept is drawn uniformly from the upper half (`[d/2, d]`) so that many
    /// exporters do not retry in lockstep.
    pub initial_backoff: Duration,
    /// Cap on the computed backoff delay.
    pub max_backoff: Duration,
    /// Cap on a server's `Retry-After` delay (a longer one is shortened to this).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRIES,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

/// A validated configuration (made by [`OtlpBuilder::build`]).
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    pub(crate) name: String,
    /// `{endpoint}/v1/logs`, or the endpoint as given with `logs_url`.
    pub(crate) url: String,
    pub(crate) protocol: Protocol,
    pub(crate) compression: Compression,
    pub(crate) headers: Vec<Header>,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_events_per_request: usize,
    pub(crate) service_name: String,
    pub(crate) resource: Vec<(String, AttributeValue)>,
}

impl OtlpConfig {
    /// The URL requests are sent to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The body encoding.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The body compression.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The retry settings.
    pub fn retry(&self) -> RetryPolicy {
        self.retry
    }

    /// Most log records per request.
    pub fn max_events_per_request(&self) -> usize {
        self.max_events_per_request
    }

    /// The names of the extra headers (their values are never shown).
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().map(|h| h.name.as_str())
    }
}

/// Builds an [`OtlpSink`](crate::OtlpSink).
///
/// # Default values
///
/// | setting | default |
/// | --- | --- |
/// | `endpoint` | [`DEFAULT_ENDPOINT`] (`http://127.0.0.1:4318`; requests go to `/v1/logs` under it) |
/// | `protocol` | [`Protocol::Protobuf`] |
/// | `compression` | [`Compression::Gzip`] |
/// | `headers` | none |
/// | `timeout` | [`DEFAULT_TIMEOUT`] (10 s per phase of an attempt) |
/// | `connect_timeout` | [`DEFAULT_CONNECT_TIMEOUT`] (5 s per attempt) |
/// | `max_retries` | [`DEFAULT_MAX_RETRIES`] (5) |
/// | `initial_backoff` | [`DEFAULT_INITIAL_BACKOFF`] (100 ms) |
/// | `max_backoff` | [`DEFAULT_MAX_BACKOFF`] (5 s) |
/// | `max_retry_after` | [`DEFAULT_MAX_RETRY_AFTER`] (30 s) |
/// | `max_events_per_request` | [`DEFAULT_MAX_EVENTS_PER_REQUEST`] (1024) |
/// | `service_name` | [`DEFAULT_SERVICE_NAME`] (`unknown_service`) |
/// | `name` | [`DEFAULT_SINK_NAME`] (`otlp`) |
///
/// ```
/// use ringtrace_otlp::{Compression, OtlpSink, Protocol};
/// use std::time::Duration;
///
/// let sink = OtlpSink::builder()
///     .endpoint("http://otel-collector.local:4318")
///     .service_name("matching-engine")
///     .resource_attribute("deployment.environment.name", "prod")
///     .header("authorization", "Bearer s3cr3t")
///     .protocol(Protocol::Protobuf)
///     .compression(Compression::Gzip)
///     .timeout(Duration::from_secs(5))
///     .max_retries(3)
///     .build()?;
/// assert!(!format!("{sink:?}").contains("s3cr3t"));
/// # Ok::<(), ringtrace_otlp::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct OtlpBuilder {
    name: String,
    endpoint: String,
    logs_url: bool,
    protocol: Protocol,
    compression: Compression,
    headers: Vec<Header>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    max_events_per_request: usize,
    service_name: String,
    resource: Vec<(String, AttributeValue)>,
}

impl Default for OtlpBuilder {
    fn default() -> Self {
        Self {
            name: DEFAULT_SINK_NAME.to_owned(),
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            logs_url: false,
            protocol: Protocol::default(),
            compression: Compression::default(),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
            max_events_per_request: DEFAULT_MAX_EVENTS_PER_REQUEST,
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            resource: Vec::new(),
        }
    }
}

impl OtlpBuilder {
    /// A builder with the default values.
    pub fn new() -> Self {
        Self::default()
    }

    /// The sink's name in reports, metrics and diagnostics (default `otlp`); give each
    /// exporter of one runtime its own.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The collector's base URL, as in `OTEL_EXPORTER_OTLP_ENDPOINT`: requests go to
    /// `{endpoint}/v1/logs`. Plain `http://` only (this build has no TLS: run the Collector
    /// beside the service and let it speak TLS upstream).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self.logs_url = false;
        self
    }

    /// The full URL to post to, used as is (as in `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`).
    pub fn logs_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self.logs_url = true;
        self
    }

    /// Protobuf (default) or JSON bodies.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Gzip (default) or no compression.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Adds a header to every request (e.g. `authorization`). The value is treated as a
    /// secret: it is never shown in `Debug` output or errors. Later headers with the same
    /// name (case-insensitive) replace earlier ones.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|h| !h.name.eq_ignore_ascii_case(&name));
        self.headers.push(Header { name, value: value.into() });
        self
    }

    /// Timeout for each phase of one attempt: sending the request, waiting for the response,
    /// reading it (connecting has [`connect_timeout`](Self::connect_timeout)). Name lookup
    /// uses the system resolver's own timeouts.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Timeout for connecting, per attempt.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// All retry settings at once.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Retries after the first attempt of a request (0 disables retrying).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.retry.max_retries = n;
        self
    }

    /// Delay before the first retry.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.retry.initial_backoff = d;
        self
    }

    /// Cap on the computed backoff delay.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.retry.max_backoff = d;
        self
    }

    /// Cap on a server's `Retry-After` delay.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.retry.max_retry_after = d;
        self
    }

    /// Most log records per request; a larger drain batch is sent as several requests.
    pub fn max_events_per_request(mut self, n: usize) -> Self {
        self.max_events_per_request = n;
        self
    }

    /// The `service.name` resource attribute.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// Adds a resource attribute (`service.version`, `deployment.environment.name`,
    /// `host.name`, …). A later attribute with the same key replaces an earlier one;
    /// `service.name` is set with [`service_name`](Self::service_name).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<AttributeValue>) -> Self {
        let key = key.into();
        self.resource.retain(|(k, _)| *k != key);
        self.resource.push((key, value.into()));
        self
    }

    /// Checks every setting and returns the configuration.
    pub fn validate(&self) -> Result<OtlpConfig, ConfigError> {
        if self.name.is_empty() || self.name.len() > 64 {
            return Err(ConfigError::new("name", &self.name, "1 to 64 bytes"));
        }
        let url = validate_url(&self.endpoint, self.logs_url)?;
        for h in &self.headers {
            validate_header(h)?;
        }
        let nonzero = |field: &'static str, d: Duration| {
            if d.is_zero() {
                Err(ConfigError::new(field, format!("{d:?}"), "a duration greater than zero"))
            } else {
                Ok(())
            }
        };
        nonzero("timeout", self.timeout)?;
        nonzero("connect_timeout", self.connect_timeout)?;
        let r = self.retry;
        if r.max_retries > MAX_RETRIES_LIMIT {
            return Err(ConfigError::new(
                "max_retries",
                r.max_retries.to_string(),
                format!("0 to {MAX_RETRIES_LIMIT}"),
            ));
        }
        nonzero("initial_backoff", r.initial_backoff)?;
        if r.max_backoff < r.initial_backoff {
            return Err(ConfigError::new(
                "max_backoff",
                format!("{:?}", r.max_backoff),
                format!("at least initial_backoff ({:?})", r.initial_backoff),
            ));
        }
        if r.max_backoff > Duration::from_secs(3600) || r.max_retry_after > Duration::from_secs(3600) {
            let (field, d) = if r.max_backoff > Duration::from_secs(3600) {
                ("max_backoff", r.max_backoff)
            } else {
                ("max_retry_after", r.max_retry_after)
            };
            return Err(ConfigError::new(field, format!("{d:?}"), "at most 1 hour"));
        }
        if self.max_events_per_request == 0 || self.max_events_per_request > MAX_EVENTS_PER_REQUEST_LIMIT {
            return Err(ConfigError::new(
                "max_events_per_request",
                self.max_events_per_request.to_string(),
                format!("1 to {MAX_EVENTS_PER_REQUEST_LIMIT}"),
            ));
        }
        if self.service_name.is_empty() {
            return Err(ConfigError::new("service_name", "", "a non-empty string"));
        }
        for (k, v) in &self.resource {
            if k.is_empty() {
                return Err(ConfigError::new("resource_attribute", "", "a non-empty key"));
            }
            if k == "service.name" {
                return Err(ConfigError::new(
                    "resource_attribute",
                    k,
                    "any key but service.name (set it with service_name)",
                ));
            }
            if let AttributeValue::Double(d) = v {
                if !d.is_finite() {
                    return Err(ConfigError::new(
                        "resource_attribute",
                        format!("{k}={d}"),
                        "a finite double (NaN and infinities have no OTLP/JSON form)",
                    ));
                }
            }
        }
        Ok(OtlpConfig {
            name: self.name.clone(),
            url,
            protocol: self.protocol,
            compression: self.compression,
            headers: self.headers.clone(),
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            retry: self.retry,
            max_events_per_request: self.max_events_per_request,
            service_name: self.service_name.clone(),
            resource: self.resource.clone(),
        })
    }

    /// Validates the settings and builds the sink.
    pub fn build(self) -> Result<crate::OtlpSink, ConfigError> {
        Ok(crate::OtlpSink::from_config(self.validate()?))
    }
}

const URL_ALLOWED: &str = "an absolute http:// URL with a host, such as http://127.0.0.1:4318 (no query or fragment)";

/// Checks the endpoint and returns the URL to post to.
fn validate_url(endpoint: &str, as_is: bool) -> Result<String, ConfigError> {
    let field = if as_is { "logs_url" } else { "endpoint" };
    let bad = || ConfigError::new(field, endpoint, URL_ALLOWED);
    let lower = endpoint.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(ConfigError::new(
            field,
            endpoint,
            "http:// only: this build of ringtrace-otlp has no TLS (send to a local \
             OpenTelemetry Collector over http:// and let it use TLS upstream)",
        ));
    }
    let Some(rest) = lower.strip_prefix("http://") else { return Err(bad()) };
    if endpoint.chars().any(|c| c.is_whitespace() || c.is_control()) || rest.contains(['?', '#']) {
        return Err(bad());
    }
    let authority = rest.split('/').next().unwrap_or("");
    // Userinfo would be sent as credentials in the clear and logged in errors: use a header.
    if authority.contains('@') {
        return Err(ConfigError::new(
            field,
            "<url with user info>",
            "a URL without user:password@ (send credentials with header(\"authorization\", …))",
        ));
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !authority.ends_with(']') => {
            if port.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad());
            }
            h
        }
        _ => authority,
    };
    if host.is_empty() || host == "[]" {
        return Err(bad());
    }
    let base = endpoint.trim_end_matches('/');
    Ok(if as_is { endpoint.to_owned() } else { format!("{base}/v1/logs") })
}

/// Header names are HTTP tokens; values are visible ASCII or spaces/tabs (no CR/LF).
fn validate_header(h: &Header) -> Result<(), ConfigError> {
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    if h.name.is_empty() || !h.name.bytes().all(token) {
        return Err(ConfigError::new("header", &h.name, "a header name made of letters, digits and !#$%&'*+-.^_`|~"));
    }
    let reserved = ["content-type", "content-encoding", "content-length", "host", "transfer-encoding"];
    if reserved.iter().any(|r| h.name.eq_ignore_ascii_case(r)) {
        return Err(ConfigError::new(
            "header",
            &h.name,
            "any header but content-type, content-encoding, content-length, host and \
             transfer-encoding (the exporter sets those)",
        ));
    }
    if !h.value.bytes().all(|c| c == b'\t' || (b' '..=b'~').contains(&c)) {
        // The value is a secret: name the header, not the value.
        return Err(ConfigError::new(
            "header",
            format!("{} (value not shown)", h.name),
            "a value of visible ASCII characters, spaces and tabs (no line breaks)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(b: OtlpBuilder) -> ConfigError {
        b.validate().unwrap_err()
    }

    #[test]
    fn defaults_are_valid_and_documented() {
        let c = OtlpBuilder::new().validate().unwrap();
        assert_eq!(c.url(), "http://127.0.0.1:4318/v1/logs");
        assert_eq!(c.protocol(), Protocol::Protobuf);
        assert_eq!(c.compression(), Compression::Gzip);
        assert_eq!(c.max_events_per_request(), DEFAULT_MAX_EVENTS_PER_REQUEST);
        assert_eq!(c.retry(), RetryPolicy::default());
        assert_eq!(c.service_name, "unknown_service");
    }

    #[test]
    fn endpoint_gets_the_logs_path_and_logs_url_is_used_as_is() {
        let c = OtlpBuilder::new().endpoint("http://collector:4318/").validate().unwrap();
        assert_eq!(c.url(), "http://collector:4318/v1/logs");
        let c = OtlpBuilder::new().endpoint("http://[::1]:4318/prefix").validate().unwrap();
        assert_eq!(c.url(), "http://[::1]:4318/prefix/v1/logs");
        let c = OtlpBuilder::new().endpoint("HTTP://h").validate().unwrap();
        assert_eq!(c.url(), "HTTP://h/v1/logs");
        let c = OtlpBuilder::new().logs_url("http://h:1/custom/logs").validate().unwrap();
        assert_eq!(c.url(), "http://h:1/custom/logs");
    }

    #[test]
    fn bad_endpoints_name_the_field_value_and_what_is_allowed() {
        for bad in [
            "",
            "localhost:4318",
            "ftp://h",
            "http://",
            "http://:80",
            "http://h:port",
            "http://h:99999",
            "http://h/?a=1",
            "http://h #",
        ] {
            let e = err(OtlpBuilder::new().endpoint(bad));
            assert_eq!((e.field(), e.value()), ("endpoint", bad), "{bad}");
            assert!(e.allowed().contains("http://"), "{e}");
            assert!(e.to_string().starts_with(&format!("invalid otlp endpoint {bad:?}")), "{e}");
        }
        let e = err(OtlpBuilder::new().endpoint("https://collector:4318"));
        assert!(e.allowed().contains("no TLS"), "{e}");
        let e = err(OtlpBuilder::new().logs_url("nope"));
        assert_eq!(e.field(), "logs_url");
        let e = err(OtlpBuilder::new().endpoint("http://user:pw@h:4318"));
        assert!(!e.to_string().contains("pw"), "{e}");
    }

    #[test]
    fn header_values_are_never_shown() {
        let b = OtlpBuilder::new().header("authorization", "Bearer TOPSECRET");
        assert!(!format!("{b:?}").contains("TOPSECRET"));
        let c = b.validate().unwrap();
        assert!(!format!("{c:?}").contains("TOPSECRET"));
        assert_eq!(c.header_names().collect::<Vec<_>>(), ["authorization"]);
        let e = err(OtlpBuilder::new().header("x-api-key", "TOP\r\nSECRET"));
        assert_eq!(e.field(), "header");
        assert!(!e.to_string().contains("TOP"), "{e}");
        assert!(e.to_string().contains("x-api-key"), "{e}");
        let e = err(OtlpBuilder::new().header("bad name", "v"));
        assert_eq!(e.value(), "bad name");
        let e = err(OtlpBuilder::new().header("Content-Type", "text/plain"));
        assert!(e.allowed().contains("content-type"), "{e}");
        let c = OtlpBuilder::new().header("A", "1").header("a", "2").validate().unwrap();
        assert_eq!(c.headers.len(), 1);
        assert_eq!(c.headers[0].value, "2");
    }

    #[test]
    fn numbers_and_durations_are_range_checked() {
        let e = err(OtlpBuilder::new().max_events_per_request(0));
        assert_eq!((e.field(), e.value()), ("max_events_per_request", "0"));
        assert_eq!(e.allowed(), format!("1 to {MAX_EVENTS_PER_REQUEST_LIMIT}"));
        assert_eq!(err(OtlpBuilder::new().timeout(Duration::ZERO)).field(), "timeout");
        assert_eq!(err(OtlpBuilder::new().connect_timeout(Duration::ZERO)).field(), "connect_timeout");
        assert_eq!(err(OtlpBuilder::new().initial_backoff(Duration::ZERO)).field(), "initial_backoff");
        let e = err(OtlpBuilder::new().initial_backoff(Duration::from_secs(2)).max_backoff(Duration::from_secs(1)));
        assert_eq!(e.field(), "max_backoff");
        assert_eq!(err(OtlpBuilder::new().max_retries(101)).field(), "max_retries");
        assert_eq!(err(OtlpBuilder::new().max_retry_after(Duration::from_secs(7200))).field(), "max_retry_after");
        assert!(OtlpBuilder::new().max_retries(0).validate().is_ok());
    }

    #[test]
    fn resource_and_names_are_checked() {
        assert_eq!(err(OtlpBuilder::new().service_name("")).field(), "service_name");
        assert_eq!(err(OtlpBuilder::new().name("")).field(), "name");
        let e = err(OtlpBuilder::new().resource_attribute("service.name", "x"));
        assert_eq!(e.value(), "service.name");
        assert_eq!(err(OtlpBuilder::new().resource_attribute("x", f64::NAN)).field(), "resource_attribute");
        let c = OtlpBuilder::new().resource_attribute("k", 1i64).resource_attribute("k", true).validate().unwrap();
        assert_eq!(c.resource, [("k".to_owned(), AttributeValue::Bool(true))]);
    }
}

//! An OpenTelemetry (OTLP/HTTP) log exporter for ringtrace (work in progress).

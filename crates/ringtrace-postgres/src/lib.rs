//! A PostgreSQL sink for ringtrace (work in progress).

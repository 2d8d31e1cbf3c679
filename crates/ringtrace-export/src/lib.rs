//! Timeline exports of ringtrace traces (R-OUT-3). Work in progress.

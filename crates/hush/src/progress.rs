//! The progress of a file transfer on standard error: the client library reports through
//! [`hush_client::drive::Progress`], this draws it (a line per step, an `indicatif` bar per
//! upload or download). Used only when standard error is a terminal.

use std::sync::{Mutex, PoisonError};

use hush_client::drive::{Progress, Stage};
use hush_core::display::human_bytes as human;
use hush_core::display::escape;
use indicatif::{ProgressBar, ProgressStyle};

/// Draws a transfer's steps and a bar for the bytes moving.
#[derive(Default)]
pub(crate) struct Bar {
    current: Mutex<Option<ProgressBar>>,
}

impl Bar {
    fn start(&self, label: String, total: u64, from: u64) {
        if from > 0 {
            eprintln!("{label}: continuing from {} of {}", human(from), human(total));
        }
        let bar = ProgressBar::new(total).with_position(from).with_style(style()).with_message(label);
        if let Some(old) = self.current.lock().unwrap_or_else(PoisonError::into_inner).replace(bar) {
            old.finish();
        }
    }
}

/// `uploading NAME [####      ]  40% 3.2 MiB of 8.0 MiB  1.1 MiB/s`
fn style() -> ProgressStyle {
    #[allow(clippy::expect_used, reason = "the template is a constant that indicatif parses")]
    ProgressStyle::with_template("{msg} [{bar:20}] {percent:>3}% {binary_bytes} of {binary_total_bytes}  {binary_bytes_per_sec}")
        .expect("a valid progress template")
        .progress_chars("## ")
}

impl Progress for Bar {
    fn stage(&self, stage: Stage<'_>) {
        match stage {
            Stage::Encrypting { name, size } => eprintln!("encrypting {name} ({})…", human(size)),
            Stage::Uploading { name, total, from } => self.start(format!("uploading {name}"), total, from),
            // Names from a space are someone else's text.
            Stage::Downloading { name, total, from } => self.start(format!("downloading {}", escape(name)), total, from),
            Stage::Checking { name } => eprintln!("checking and decrypting {}…", escape(name)),
            _ => {}
        }
    }

    fn advance(&self, done: u64) {
        if let Some(bar) = self.current.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.current.lock().unwrap_or_else(PoisonError::into_inner).take() {
            bar.finish();
        }
    }
}

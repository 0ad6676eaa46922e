//! Standard output for `read` and `watch`: one message at a time, so that a message is
//! marked read only once it reached whoever reads the output.
//!
//! On a terminal or a file, a message reached the output when its write succeeded. On a
//! pipe, written is not read: `hush read | head -n 3` would otherwise push all fifty
//! messages into the pipe and `head` would show three. So on a pipe each message waits
//! until the reader took it out of the pipe (the pipe is empty again) before the next is
//! written; if the reader goes away first, that message and the rest stay unread. A closed
//! pipe is the reader's choice, not an error: the command ends quietly.

use std::io::Write as _;

use hush_client::Received;

/// Where messages go, and whether the reader is still there.
pub struct Output {
    stdout: std::io::Stdout,
    pipe: bool,
    closed: bool,
}

impl Output {
    pub fn new() -> Output {
        Output { stdout: std::io::stdout(), pipe: is_pipe(), closed: false }
    }

    /// Whether the reader went away (the pipe closed).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Writes `text` (whole lines) and returns whether it reached the reader.
    pub fn deliver(&mut self, text: &str) -> anyhow::Result<bool> {
        if self.closed {
            return Ok(false);
        }
        let mut lock = self.stdout.lock();
        let wrote = lock.write_all(text.as_bytes()).and_then(|()| lock.flush());
        drop(lock);
        match wrote {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                return Ok(false);
            }
            Err(_) => anyhow::bail!("can't write to standard output; what was not shown stays unread"),
        }
        if self.pipe && !self.drained() {
            self.closed = true;
            return Ok(false);
        }
        Ok(true)
    }

    /// Waits until the pipe is empty (true) or its reader is gone (false).
    #[cfg(unix)]
    fn drained(&self) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        use std::os::fd::AsFd as _;
        let fd = self.stdout.as_fd();
        let mut pause = std::time::Duration::from_micros(100);
        loop {
            match rustix::io::ioctl_fionread(fd) {
                Ok(0) => return true,
                Ok(_) => {}
                // Unknown: count the write as delivered, as on a file.
                Err(_) => return true,
            }
            let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
            let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
            if poll(&mut fds, Some(&zero)).is_ok() && fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP) {
                return false;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
        }
    }

    #[cfg(not(unix))]
    fn drained(&self) -> bool {
        true
    }
}

#[cfg(unix)]
fn is_pipe() -> bool {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::FileTypeExt as _;
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else { return false };
    std::fs::File::from(fd).metadata().is_ok_and(|m| m.file_type().is_fifo())
}

#[cfg(not(unix))]
fn is_pipe() -> bool {
    false
}

/// One message as the terminal shows it, or as one JSON line; ends with a newline. Every
/// field that came from someone else is escaped (see [`hush_core::display`]).
pub(crate) fn format_message(m: &Received, json: bool) -> String {
    use hush_core::display::{escape, escape_lines};
    if json {
        return format!(
            "{}\n",
            serde_json::json!({
                "conversation": escape(&m.conversation), "conversation_id": m.conversation_id, "sender": escape(&m.sender),
                "sender_device": escape(&m.sender_device), "kind": m.kind, "text": escape_lines(&m.text, ""), "sent_at": m.sent_at,
                "received_at": m.received_at, "late": m.late,
            })
        );
    }
    let time = format_time(m.sent_at);
    let (conv, sender) = (escape(&m.conversation), escape(&m.sender));
    // Continuation lines of a message are indented: they never start like a line of
    // their own ("[12:00:00 UTC] ...").
    let text = escape_lines(&m.text, "        ");
    match m.kind.as_str() {
        "text" if m.late => format!("[{time}] {conv} | {sender} (late): {text}\n"),
        "text" => format!("[{time}] {conv} | {sender}: {text}\n"),
        "warning" => format!("[{time}] {conv} | WARNING: {}\n", escape(&m.text)),
        "history" => format!("[{time}] {conv} | (earlier) {sender}: {text}\n"),
        _ => format!("[{time}] {conv} | * {}\n", escape(&m.text)),
    }
}

pub(crate) fn print_message(m: &Received, json: bool) {
    print!("{}", format_message(m, json));
}

fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02} UTC")
}

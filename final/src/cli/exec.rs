//! `orc exec [-i] [-t] POD [-c C] -- CMD...`: a command in a container,
//! spoken as kubectl speaks it.
//!
//! The client's half of the channel protocol the node's agent serves
//! (`orc_pod::agent::channels`): one WebSocket (`v5.channel.k8s.io`,
//! [`super::stream`]), every message a channel byte and data. The client
//! - sends its stdin on channel 0 with `-i`, and `[255, 0]` when it ends;
//! - with `-t`, puts its own terminal in raw mode (keys go to the remote
//!   terminal as typed: Ctrl-C is the remote process's SIGINT) and sends
//!   its window size on channel 4, again at every SIGWINCH;
//! - writes channel 1 to stdout and channel 2 to stderr;
//! - reads how the command ended on channel 3, and exits with its code.
//!
//! When the server refuses the WebSocket, or `ORC_REMOTE_COMMAND_WEBSOCKETS`
//! (or kubectl's `KUBECTL_REMOTE_COMMAND_WEBSOCKETS`) is `false`, the same
//! messages travel as SPDY streams instead ([`super::remote_command`]).

use std::io::{IsTerminal, Read, Write};

use anyhow::{Result, bail};
use clap::Args;
use orc_client::encode;
use orc_pod::agent::channels::{self, CLOSE, RESIZE, STATUS, STDERR, STDIN, STDOUT};
use serde_json::Value;
use tokio::sync::mpsc;

use orc_pod::agent::streams::SPDY_PROTOCOL;

use super::remote_command::{self, Channels};
use super::stream::{self, Upgraded};
use super::{Exit, Target};

/// kubectl's switch back to the SPDY upgrade, and orc's own name for it:
/// `false` in either skips the WebSocket.
pub const WEBSOCKETS_SWITCH: [&str; 2] = [
    "ORC_REMOTE_COMMAND_WEBSOCKETS",
    "KUBECTL_REMOTE_COMMAND_WEBSOCKETS",
];

#[derive(Args)]
pub struct ExecArgs {
    /// The pod (`web` or `pod/web`).
    pub pod: String,
    /// The container (default: the pod's only one, or its default).
    #[arg(short, long)]
    pub container: Option<String>,
    /// Pass stdin to the command.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Give the command a terminal (needs one on stdin).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub target: Target,
}

// ANCHOR: query
/// The exec request's query, as kubectl builds it: one `command` per
/// argument; stderr is part of the terminal with `-t`.
pub fn exec_query(command: &[String], container: Option<&str>, stdin: bool, tty: bool) -> String {
    let mut params: Vec<String> = command
        .iter()
        .map(|arg| format!("command={}", encode(arg)))
        .collect();
    if let Some(c) = container {
        params.push(format!("container={}", encode(c)));
    }
    params.push(format!("stdin={stdin}"));
    params.push("stdout=true".into());
    params.push(format!("stderr={}", !tty));
    params.push(format!("tty={tty}"));
    params.join("&")
}
// ANCHOR_END: query

// ANCHOR: exit_code
/// The exit code in the status kubectl reads on channel 3: `Success` is
/// 0, `NonZeroExitCode` carries the code in its `ExitCode` cause; any
/// other failure is the exec's own (its message).
pub fn exit_code(status: &Value) -> Result<i32, String> {
    if status["status"] == "Success" {
        return Ok(0);
    }
    let code = status["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["reason"] == "ExitCode")
        .and_then(|c| c["message"].as_str()?.parse().ok());
    match (status["reason"].as_str(), code) {
        (Some("NonZeroExitCode"), Some(code)) => Ok(code),
        _ => Err(status["message"]
            .as_str()
            .unwrap_or("the exec failed without a message")
            .to_string()),
    }
}
// ANCHOR_END: exit_code

pub async fn run(args: ExecArgs) -> Result<()> {
    let target = stream::pod_stream(&args.target, &args.pod, "exec")?;
    // kubectl's rule: a terminal only when stdin is one.
    let tty = args.tty && std::io::stdin().is_terminal();
    if args.tty && !tty {
        eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
    }
    let query = exec_query(&args.command, args.container.as_deref(), args.stdin, tty);
    let path = format!("{}?{query}", target.path);
    let websockets = stream::websockets_allowed(&WEBSOCKETS_SWITCH)?;
    let protocols = (channels::PROTOCOLS[0], SPDY_PROTOCOL);
    let channels = match stream::open(&target.connection, &path, protocols, websockets).await? {
        Upgraded::WebSocket(socket) => remote_command::over_websocket(socket),
        Upgraded::Spdy(io) => remote_command::over_spdy(io, args.stdin, tty),
    };
    let raw = if tty { Some(RawMode::enter()?) } else { None };
    let ended = session(channels, args.stdin, tty).await;
    drop(raw);
    match ended? {
        0 => Ok(()),
        code => Err(Exit(code).into()),
    }
}

// ANCHOR: session
/// Pumps the streams until the status arrives; answers the exit code.
async fn session(channels: Channels, stdin: bool, tty: bool) -> Result<i32> {
    let Channels {
        mut incoming,
        outgoing: out,
    } = channels;
    if tty {
        tokio::spawn(send_window_sizes(out.clone()));
    }
    if stdin {
        send_stdin(out.clone(), tty);
    }
    drop(out);
    let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
    while let Some(data) = incoming.recv().await {
        match data.split_first() {
            Some((&STDOUT, bytes)) => {
                stdout.write_all(bytes)?;
                stdout.flush()?;
            }
            Some((&STDERR, bytes)) => {
                stderr.write_all(bytes)?;
                stderr.flush()?;
            }
            Some((&STATUS, json)) => {
                let status: Value = serde_json::from_slice(json)?;
                return exit_code(&status).map_err(anyhow::Error::msg);
            }
            _ => {}
        }
    }
    bail!("the connection ended before the command's status arrived")
}
// ANCHOR_END: session

/// Stdin to channel 0, read on a thread of its own (a blocking read of a
/// terminal cannot be cancelled: the thread simply ends with the
/// process); end-of-file becomes v5's `[255, 0]`, except on a terminal,
/// where Ctrl-D is a key like any other.
fn send_stdin(out: mpsc::Sender<Vec<u8>>, tty: bool) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out
                        .blocking_send(channels::frame(STDIN, &buf[..n]))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        if !tty {
            let _ = out.blocking_send(vec![CLOSE, STDIN]);
        }
    });
}

/// The terminal's size on channel 4 now, and again at every SIGWINCH.
async fn send_window_sizes(out: mpsc::Sender<Vec<u8>>) {
    let Ok(mut changes) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
    else {
        return;
    };
    loop {
        if let Some((width, height)) = window_size() {
            let size = serde_json::json!({"Width": width, "Height": height}).to_string();
            if out
                .send(channels::frame(RESIZE, size.as_bytes()))
                .await
                .is_err()
            {
                return;
            }
        }
        if changes.recv().await.is_none() {
            return;
        }
    }
}

/// The size of the terminal on stdin, `(columns, rows)`.
fn window_size() -> Option<(u16, u16)> {
    let mut size = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into our stack variable.
    let rc = unsafe { nix::libc::ioctl(nix::libc::STDIN_FILENO, nix::libc::TIOCGWINSZ, &mut size) };
    (rc == 0).then_some((size.ws_col, size.ws_row))
}

/// The local terminal in raw mode (no echo, no line editing, no signals
/// from keys: all of that happens in the remote terminal) until dropped.
struct RawMode(nix::sys::termios::Termios);

impl RawMode {
    fn enter() -> Result<RawMode> {
        use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        // TCSANOW: keys typed before the switch are kept, not flushed.
        tcsetattr(&stdin, SetArg::TCSANOW, &raw)?;
        Ok(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use nix::sys::termios::{SetArg, tcsetattr};
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_query_is_kubectls() {
        let command = ["sh".to_string(), "-c".into(), "echo a&b".into()];
        assert_eq!(
            exec_query(&command, Some("main"), true, false),
            "command=sh&command=-c&command=echo%20a%26b&container=main&stdin=true&stdout=true&stderr=true&tty=false"
        );
        assert!(exec_query(&command, None, false, true).ends_with("stderr=false&tty=true"));
    }

    #[test]
    fn the_status_becomes_the_exit_code() {
        let command = ["false".to_string()];
        assert_eq!(exit_code(&channels::exit_status(0, &command)), Ok(0));
        assert_eq!(exit_code(&channels::exit_status(3, &command)), Ok(3));
        let failed = channels::error_status("running orc-container: no such file");
        assert_eq!(
            exit_code(&failed),
            Err("running orc-container: no such file".into())
        );
        assert!(exit_code(&json!({"status": "Failure"})).is_err());
    }
}

//! The channel protocol of `kubectl exec` and `kubectl attach`, pure.
//!
//! A process has several byte streams (stdin, stdout, stderr) but a
//! WebSocket carries one sequence of messages. Kubernetes multiplexes them
//! by putting one *channel byte* in front of every binary message:
//!
//! | byte | direction        | carries                                     |
//! |------|------------------|---------------------------------------------|
//! | 0    | kubectl → node   | stdin                                       |
//! | 1    | node → kubectl   | stdout                                      |
//! | 2    | node → kubectl   | stderr                                      |
//! | 3    | node → kubectl   | the end: a `metav1.Status` JSON             |
//! | 4    | kubectl → node   | a terminal resize, `{"Width":..,"Height":..}` |
//! | 255  | kubectl → node   | v5 only: `[255, 0]` means "stdin is finished" |
//!
//! The subprotocol names the version: `v4.channel.k8s.io` cannot say that
//! stdin ended, `v5.channel.k8s.io` (kubectl v1.30 on) can, which is what
//! makes `kubectl exec -i pod -- wc -c < file` terminate. The kubelet's
//! `wsstream` package and client-go's `remotecommand` are the two sides
//! upstream (chapter 03, "How `kubectl exec` reaches a process").

use serde_json::{Value, json};

/// The subprotocols the agent speaks, preferred first: the server picks
/// the first of these that the client offers and echoes it in its 101.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// Channel numbers, as Kubernetes numbers them.
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const STATUS: u8 = 3;
pub const RESIZE: u8 = 4;
/// v5's "close a channel" message: `[255, channel]`.
pub const CLOSE: u8 = 255;

// ANCHOR: incoming
/// What one binary message from kubectl means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// Bytes for the process's stdin.
    Stdin(&'a [u8]),
    /// kubectl has no more stdin (v5's `[255, 0]`): close the pipe, so
    /// the process reads end-of-file.
    StdinClosed,
    /// The terminal was resized.
    Resize { width: u16, height: u16 },
    /// Anything else: an empty message, a channel kubectl never writes,
    /// a resize that is not JSON. Ignored, as the kubelet ignores it.
    Ignored,
}

/// Reads one message: the first byte picks the channel, the rest is data.
pub fn parse(message: &[u8]) -> Incoming<'_> {
    match message {
        [STDIN, data @ ..] => Incoming::Stdin(data),
        [CLOSE, STDIN] => Incoming::StdinClosed,
        [RESIZE, json @ ..] => match serde_json::from_slice::<Value>(json) {
            Ok(size) => match (size["Width"].as_u64(), size["Height"].as_u64()) {
                (Some(w), Some(h)) => Incoming::Resize {
                    width: u16::try_from(w).unwrap_or(u16::MAX),
                    height: u16::try_from(h).unwrap_or(u16::MAX),
                },
                _ => Incoming::Ignored,
            },
            Err(_) => Incoming::Ignored,
        },
        _ => Incoming::Ignored,
    }
}

/// One message to kubectl: the channel byte, then the data.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(data.len() + 1);
    message.push(channel);
    message.extend_from_slice(data);
    message
}
// ANCHOR_END: incoming

// ANCHOR: exit_status
/// The last message, on channel 3: how the command ended, as the kubelet
/// words it. kubectl reads `NonZeroExitCode` and the `ExitCode` cause and
/// exits with that code itself, so `kubectl exec pod -- sh -c 'exit 3'`
/// exits 3.
pub fn exit_status(code: i32, command: &[String]) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command {command:?}, exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}
// ANCHOR_END: exit_status

/// A failure that is not the command's exit code (the exec could not run
/// at all), on channel 3: kubectl prints the message and exits 1.
pub fn error_status(message: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "code": 500,
    })
}

/// The query of an exec or attach request: which streams kubectl wants,
/// whether it wants a terminal, and (exec) the command, one `command=`
/// parameter per argument.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl StreamOptions {
    /// Decodes a raw query string (`command` repeats, so a map will not do).
    /// A flag is on for `true` or `1`, as Go's `strconv.ParseBool` reads it
    /// in the kubelet; anything else is refused with the parameter's name.
    pub fn from_query(query: &str) -> Result<StreamOptions, String> {
        let mut options = StreamOptions::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let flag = || match value.as_ref() {
                "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(true),
                "false" | "0" | "f" | "F" | "FALSE" | "False" | "" => Ok(false),
                other => Err(format!(
                    "query parameter {key}: invalid value {other:?}: expected true or false"
                )),
            };
            match key.as_ref() {
                "command" => options.command.push(value.to_string()),
                "stdin" | "input" => options.stdin = flag()?,
                "stdout" | "output" => options.stdout = flag()?,
                "stderr" | "error" => options.stderr = flag()?,
                "tty" => options.tty = flag()?,
                // `container` is in the path; anything else is not ours.
                _ => {}
            }
        }
        if !(options.stdin || options.stdout || options.stderr) {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_from_kubectl_are_read_by_their_channel_byte() {
        assert_eq!(parse(b"\x00hello"), Incoming::Stdin(b"hello"));
        assert_eq!(parse(&[STDIN]), Incoming::Stdin(b""));
        assert_eq!(parse(&[CLOSE, STDIN]), Incoming::StdinClosed);
        assert_eq!(
            parse(b"\x04{\"Width\":120,\"Height\":40}"),
            Incoming::Resize {
                width: 120,
                height: 40
            }
        );
        assert_eq!(parse(b"\x04not json"), Incoming::Ignored);
        assert_eq!(parse(&[CLOSE, STDOUT]), Incoming::Ignored);
        assert_eq!(parse(b""), Incoming::Ignored);
        assert_eq!(frame(STDERR, b"oops"), b"\x02oops");
    }

    #[test]
    fn the_exit_code_travels_as_kubernetes_sends_it() {
        let command = vec!["sh".to_string(), "-c".into(), "exit 3".into()];
        assert_eq!(exit_status(0, &command)["status"], "Success");
        let failed = exit_status(3, &command);
        assert_eq!(failed["status"], "Failure");
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(
            failed["details"]["causes"],
            json!([{"reason": "ExitCode", "message": "3"}])
        );
        assert!(
            failed["message"]
                .as_str()
                .unwrap()
                .ends_with("[\"sh\", \"-c\", \"exit 3\"], exit code 3")
        );
    }

    #[test]
    fn the_query_keeps_every_command_argument_in_order() {
        let options = StreamOptions::from_query(
            "command=sh&command=-c&command=echo+a%26b&stdin=true&stdout=true&stderr=true&tty=false&container=app",
        )
        .unwrap();
        assert_eq!(options.command, ["sh", "-c", "echo a&b"]);
        assert!(options.stdin && options.stdout && options.stderr && !options.tty);
        assert_eq!(
            StreamOptions::from_query("command=ls&stdout=maybe").unwrap_err(),
            "query parameter stdout: invalid value \"maybe\": expected true or false"
        );
        assert!(
            StreamOptions::from_query("command=ls")
                .unwrap_err()
                .contains("at least 1 of stdin, stdout, stderr")
        );
    }
}

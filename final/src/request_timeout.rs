//! `--client-request-timeout`: how long every client of the API server in
//! an `orc` process waits for one answer, the operator's choice.
//!
//! orc's client fails a request the server has not answered in 30 s
//! (`orc_client::client::DEFAULT_TIMEOUT`, client-go's `rest.Config.Timeout`
//! as Kubernetes' controllers set it), so a stuck server is noticed. On a
//! machine slow enough that a healthy server needs longer (a VM under
//! software emulation, where everything runs many times slower), every
//! request would fail and be sent again, and the cluster never starts:
//! kubectl's `--request-timeout` is the same setting for kubectl. `orc up`
//! takes it and passes it on to `orc server` (its scheduler and
//! controllers) and each `orc agent` (the agent, its proxy, DNS and
//! ingress): one flag for every client of the cluster.

use std::time::Duration;

use clap::Args;
use orc_pod::agent::clock::parse_duration;

/// The flag, for `orc up`, `orc server` and `orc agent`.
#[derive(Args, Debug, Default, Clone)]
pub struct RequestTimeout {
    /// How long each client of the API server in this process (and, for
    /// `orc up`, in every component it starts) waits for an answer before
    /// it fails the request, as kubectl's --request-timeout: 30s unless
    /// given; 0 waits for ever. Lengthen it on a very slow machine (a VM
    /// under software emulation).
    #[arg(long, value_parser = parse_duration)]
    pub client_request_timeout: Option<Duration>,
}

impl RequestTimeout {
    /// Makes it the timeout of every client this process creates from
    /// now on; call before any is made.
    pub fn install(&self) {
        if let Some(timeout) = self.client_request_timeout {
            orc_client::client::set_process_timeout(Some(timeout));
        }
    }

    /// The flag as `orc up` passes it to the components it starts.
    pub fn to_args(&self) -> Vec<String> {
        self.client_request_timeout
            .map(|t| format!("--client-request-timeout={}ms", t.as_millis()))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passed_on_only_when_given() {
        assert!(RequestTimeout::default().to_args().is_empty());
        let given = RequestTimeout {
            client_request_timeout: Some(Duration::from_secs(120)),
        };
        assert_eq!(given.to_args(), ["--client-request-timeout=120000ms"]);
        // What is passed on parses back to the same wait.
        assert_eq!(parse_duration("120000ms"), Ok(Duration::from_secs(120)));
    }
}

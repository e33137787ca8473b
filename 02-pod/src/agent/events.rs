//! The events the kubelet writes about a pod, with its reasons and
//! messages, so that `kubectl describe pod` can tell a user why a pod does
//! not run: `Pulling`, `Pulled`, `Created`, `Started`, `Killing`,
//! `BackOff`, `Unhealthy`, `FailedMount`, `Failed`, `ErrImageNeverPull`,
//! `FailedPostStartHook`, `FailedPreStopHook`.
//! Each names the container it is about ([`PodEvent::field_path`]), as the
//! kubelet's do.
//!
//! orc-pod knows no API: the agent hands each [`PodEvent`] to an
//! [`EventSink`] (chapter 03's node agent writes it as an Event object
//! from component `kubelet`); without one, events only go to the log.
//! The constructors below are pure and hold the kubelet's wording.

use std::time::Duration;

use super::sync::KillReason;
use crate::image::ImageOrigin;
use crate::pod_spec::Pod;
use crate::probes::ProbeKind;

/// `Normal` (something happened) or `Warning` (something went wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// One thing that happened to a pod or one of its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEvent {
    pub kind: EventType,
    /// The kubelet's CamelCase reason (`BackOff`).
    pub reason: &'static str,
    pub message: String,
    /// Which container it is about, as the event's
    /// `involvedObject.fieldPath` says it (`spec.containers{web}`);
    /// `None` for the pod as a whole (`FailedMount`).
    pub field_path: Option<String>,
}

impl PodEvent {
    /// The same event, about the container at `field_path`
    /// ([`Pod::field_path`]).
    pub fn about(self, field_path: String) -> PodEvent {
        PodEvent {
            field_path: Some(field_path),
            ..self
        }
    }
}

/// Where the agent's events go.
pub trait EventSink: Send + Sync {
    /// Records `event` about `pod`. Must not block: it is called from the
    /// sync loop and pod tasks.
    fn pod_event(&self, pod: &Pod, event: PodEvent);
}

/// No API server: events are logged, and that is all.
pub struct LogEvents;

impl EventSink for LogEvents {
    fn pod_event(&self, pod: &Pod, event: PodEvent) {
        tracing::info!(pod = %pod.full_name(), reason = event.reason, "{}", event.message);
    }
}

fn normal(reason: &'static str, message: String) -> PodEvent {
    PodEvent {
        kind: EventType::Normal,
        reason,
        message,
        field_path: None,
    }
}

fn warning(reason: &'static str, message: String) -> PodEvent {
    PodEvent {
        kind: EventType::Warning,
        reason,
        message,
        field_path: None,
    }
}

// ANCHOR: kubelet_events
/// The image was already in the node's store.
pub fn image_present(image: &str) -> PodEvent {
    normal(
        "Pulled",
        format!("Container image {image:?} already present on machine"),
    )
}

/// The image is not in the store: the agent is about to fetch it, from
/// its registry or, for an image orc ships a recipe for, by building it.
pub fn pulling(image: &str, origin: ImageOrigin) -> PodEvent {
    let message = match origin {
        ImageOrigin::Registry => format!("Pulling image {image:?}"),
        ImageOrigin::Recipe => {
            format!("Pulling image {image:?}: no registry, building it from orc's recipe")
        }
    };
    normal("Pulling", message)
}

/// The image was fetched (or, for `busybox`, built from the node's own),
/// or built from orc's recipe; `size` is its size in the store (config and
/// layers, as stored). The kubelet's words (v1.32): the pull's time,
/// then the time since the pull was asked for, which adds the wait behind
/// other pulls when they are serialised; orc's agent does not queue pulls,
/// so the two are the same measure.
pub fn pulled(image: &str, origin: ImageOrigin, took: Duration, size: u64) -> PodEvent {
    let took = go_duration_ms(took);
    let timing = format!("in {took} ({took} including waiting). Image size: {size} bytes.");
    let message = match origin {
        ImageOrigin::Registry => format!("Successfully pulled image {image:?} {timing}"),
        ImageOrigin::Recipe => {
            format!("Successfully built image {image:?} from orc's recipe {timing}")
        }
    };
    normal("Pulled", message)
}

/// The container could not be made (`reason` is its waiting reason,
/// `ErrImagePull`, `CreateContainerConfigError`, ...), as the kubelet's
/// `Failed` event says it.
pub fn failed(reason: &str, message: &str) -> PodEvent {
    warning("Failed", format!("Error: {reason}: {message}"))
}

/// A failed pull waits before the next try (`ImagePullBackOff`).
pub fn pull_back_off(image: &str) -> PodEvent {
    normal("BackOff", format!("Back-off pulling image {image:?}"))
}

/// The image is missing and `imagePullPolicy: Never` forbids fetching it.
pub fn never_pull(image: &str) -> PodEvent {
    warning(
        "ErrImageNeverPull",
        crate::agent::image_pull::never_pull_message(image),
    )
}

/// A probe failed (each failure, not only the one that crosses the
/// threshold): `Liveness probe failed: <what the check said>`.
pub fn unhealthy(kind: ProbeKind, output: &str) -> PodEvent {
    let kind = match kind {
        ProbeKind::Startup => "Startup",
        ProbeKind::Liveness => "Liveness",
        ProbeKind::Readiness => "Readiness",
    };
    warning("Unhealthy", format!("{kind} probe failed: {output}"))
}

/// The pod's sandbox could not be made (its network, its cgroup, a
/// hostname that does not fit); the next sync tries again.
pub fn failed_create_sandbox(message: &str) -> PodEvent {
    warning(
        "FailedCreatePodSandBox",
        format!("Failed to create pod sandbox: {message}"),
    )
}

/// A volume could not be set up; the pod waits.
pub fn failed_mount(message: String) -> PodEvent {
    warning("FailedMount", message)
}

/// With a colon since Kubernetes v1.32; `Started` has none.
pub fn created(container: &str) -> PodEvent {
    normal("Created", format!("Created container: {container}"))
}

pub fn started(container: &str) -> PodEvent {
    normal("Started", format!("Started container {container}"))
}

/// The agent stops a container: the pod is going (`Stopping container
/// web`), or the container failed a probe (`Container web failed liveness
/// probe, will be restarted`; without the last words when the restart
/// policy is `Never`).
pub fn killing(container: &str, reason: KillReason) -> PodEvent {
    let message = match reason {
        KillReason::Stopping => format!("Stopping container {container}"),
        // The kubelet passes the reason itself as the message here.
        KillReason::FailedPostStartHook => "FailedPostStartHook".into(),
        KillReason::FailedProbe { probe, restart } => {
            let probe = match probe {
                ProbeKind::Startup => "startup",
                ProbeKind::Liveness => "liveness",
                ProbeKind::Readiness => "readiness",
            };
            let then = if restart { ", will be restarted" } else { "" };
            format!("Container {container} failed {probe} probe{then}")
        }
    };
    normal("Killing", message)
}

/// A container's `postStart` hook failed (it is killed next). The
/// kubelet leaves the hook's output out of the event, which anyone who
/// may read events would see: a hook's output can hold a secret.
pub fn failed_post_start_hook() -> PodEvent {
    warning("FailedPostStartHook", "PostStartHook failed".into())
}

/// A container's `preStop` hook failed (it is stopped all the same).
pub fn failed_pre_stop_hook() -> PodEvent {
    warning("FailedPreStopHook", "PreStopHook failed".into())
}

/// An exited container waits out its back-off before the next start.
pub fn back_off(container: &str, pod: &Pod) -> PodEvent {
    let meta = &pod.metadata;
    warning(
        "BackOff",
        format!(
            "Back-off restarting failed container {container} in pod {}_{}({})",
            meta.name, meta.namespace, meta.uid
        ),
    )
}
// ANCHOR_END: kubelet_events

/// A duration as the kubelet prints it in events: cut to whole
/// milliseconds (`Truncate(time.Millisecond)`), then Go's
/// `time.Duration` text: `0s`, `593ms`, `1.5s`, `1m0.25s`, `1h2m3s`.
fn go_duration_ms(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (hours, minutes) = (ms / 3_600_000, ms / 60_000 % 60);
    let (seconds, fraction) = (ms / 1000 % 60, ms % 1000);
    let mut text = String::new();
    if hours > 0 {
        text.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        text.push_str(&format!("{minutes}m"));
    }
    text.push_str(&seconds.to_string());
    if fraction > 0 {
        text.push_str(format!(".{fraction:03}").trim_end_matches('0'));
    }
    text.push('s');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelets_words() {
        let pod: Pod =
            serde_yaml::from_str("metadata: {name: web, uid: u1}\nspec: {containers: []}").unwrap();
        assert_eq!(
            back_off("app", &pod).message,
            "Back-off restarting failed container app in pod web_default(u1)"
        );
        assert_eq!(
            image_present("busybox").message,
            "Container image \"busybox\" already present on machine"
        );
        assert_eq!(
            pulled(
                "busybox",
                ImageOrigin::Registry,
                Duration::from_micros(1_500_900),
                2_167_176
            )
            .message,
            "Successfully pulled image \"busybox\" in 1.5s (1.5s including waiting). \
             Image size: 2167176 bytes."
        );
        assert_eq!(
            pulled(
                "echoserver",
                ImageOrigin::Recipe,
                Duration::from_millis(1500),
                10
            )
            .message,
            "Successfully built image \"echoserver\" from orc's recipe in 1.5s \
             (1.5s including waiting). Image size: 10 bytes."
        );
        let startup = KillReason::FailedProbe {
            probe: ProbeKind::Startup,
            restart: true,
        };
        assert_eq!(
            killing("app", startup).message,
            "Container app failed startup probe, will be restarted"
        );
        let never = KillReason::FailedProbe {
            probe: ProbeKind::Liveness,
            restart: false,
        };
        assert_eq!(
            killing("app", never).message,
            "Container app failed liveness probe"
        );
        assert_eq!(killing("app", KillReason::Stopping).reason, "Killing");
        let hook = killing("app", KillReason::FailedPostStartHook);
        assert_eq!(hook.message, "FailedPostStartHook");
        assert_eq!(failed_post_start_hook().reason, "FailedPostStartHook");
        assert_eq!(failed_pre_stop_hook().message, "PreStopHook failed");
    }

    #[test]
    fn durations_print_as_go_prints_them_cut_to_milliseconds() {
        let cases = [
            (Duration::from_micros(900), "0s"),
            (Duration::from_micros(593_434), "593ms"),
            (Duration::from_millis(1000), "1s"),
            (Duration::from_millis(15_981), "15.981s"),
            (Duration::from_millis(60_250), "1m0.25s"),
            (Duration::from_millis(3_723_000), "1h2m3s"),
            (Duration::from_secs(3600), "1h0m0s"),
        ];
        for (duration, text) in cases {
            assert_eq!(go_duration_ms(duration), text, "{duration:?}");
        }
    }
}

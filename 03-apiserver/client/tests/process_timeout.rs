//! [`set_process_timeout`]: every client a process makes after it has the
//! operator's timeout. A test binary of its own, because the setting is
//! the whole process's: the other tests rely on [`DEFAULT_TIMEOUT`].

use std::time::Duration;

use orc_client::Client;
use orc_client::client::{DEFAULT_TIMEOUT, set_process_timeout};

#[test]
fn every_client_made_after_the_process_timeout_is_set_waits_that_long() {
    let url = "http://127.0.0.1:1";
    assert_eq!(Client::new(url).timeout(), Some(DEFAULT_TIMEOUT));
    let long = Duration::from_secs(180);
    assert!(set_process_timeout(Some(long)));
    assert_eq!(Client::new(url).timeout(), Some(long));
    // Set once: a later call is refused and changes nothing.
    assert!(!set_process_timeout(None));
    assert_eq!(Client::new(url).timeout(), Some(long));
    // One client may still choose its own.
    let short = Duration::from_secs(5);
    assert_eq!(
        Client::new(url).with_timeout(Some(short)).timeout(),
        Some(short)
    );
}

//! Each picker traced by hand, and each one's distribution over 1,000
//! requests.

use super::*;

fn weighted(weights: &[u32]) -> Vec<Candidate> {
    weights
        .iter()
        .map(|&weight| Candidate {
            weight,
            in_flight: 0,
            available: true,
        })
        .collect()
}

/// The names (a, b, c, ...) of `n` picks with nothing ever finishing
/// or, with `finish`, every request finishing before the next.
fn trace(balancer: &mut Balancer, candidates: &mut [Candidate], n: usize, finish: bool) -> String {
    (0..n)
        .map(|_| {
            let i = balancer.pick(candidates).unwrap();
            if !finish {
                candidates[i].in_flight += 1;
            }
            char::from(b'a' + i as u8)
        })
        .collect()
}

#[test]
fn round_robin_takes_turns_and_skips_the_unavailable() {
    let mut rr = Balancer::new(Algorithm::RoundRobin);
    let mut c = weighted(&[5, 1, 1]);
    assert_eq!(trace(&mut rr, &mut c, 6, true), "abcabc");
    c[1].available = false;
    assert_eq!(trace(&mut rr, &mut c, 4, true), "acac");
}

#[test]
fn smooth_weighted_round_robin_spreads_the_heavy_endpoint_as_nginx() {
    let mut wrr = Balancer::new(Algorithm::WeightedRoundRobin);
    let mut c = weighted(&[5, 1, 1]);
    assert_eq!(trace(&mut wrr, &mut c, 14, true), "aabacaaaabacaa");
}

#[test]
fn least_connections_prefers_the_idle_and_breaks_ties_in_turn() {
    let mut lc = Balancer::new(Algorithm::LeastConnections);
    let mut c = weighted(&[1, 1, 1]);
    // All idle: round robin.
    assert_eq!(trace(&mut lc, &mut c, 3, true), "abc");
    // b busy with 2: a and c share until they catch up with it.
    c[1].in_flight = 2;
    assert_eq!(trace(&mut lc, &mut c, 6, false), "acacab");
}

#[test]
fn weighted_least_connections_loads_by_weight() {
    let mut wlc = Balancer::new(Algorithm::WeightedLeastConnections);
    let mut c = weighted(&[1, 2]);
    // Loads 0/1, 0/2 tie: a; then 1/1 vs 0/2: b; 1/1 vs 1/2: b; 1/1 vs 2/2 tie...
    assert_eq!(trace(&mut wlc, &mut c, 6, false), "abbabb");
}

#[test]
fn nothing_available_picks_nothing() {
    let mut none = weighted(&[1, 1]);
    none.iter_mut().for_each(|c| c.available = false);
    for algorithm in [
        Algorithm::RoundRobin,
        Algorithm::WeightedRoundRobin,
        Algorithm::LeastConnections,
        Algorithm::WeightedLeastConnections,
    ] {
        assert_eq!(Balancer::new(algorithm).pick(&none), None);
        assert_eq!(Balancer::new(algorithm).pick(&[]), None);
    }
}

/// The share of 1,000 picks each endpoint of weights 1, 2, 3 gets.
fn shares(algorithm: Algorithm, finish: bool) -> Vec<f64> {
    let mut balancer = Balancer::new(algorithm);
    let mut c = weighted(&[1, 2, 3]);
    let picks = trace(&mut balancer, &mut c, 1000, finish);
    (b'a'..=b'c')
        .map(|n| picks.bytes().filter(|&p| p == n).count() as f64 / 1000.0)
        .collect()
}

#[test]
fn weighted_algorithms_share_1_2_3_within_two_percent() {
    let wanted = [1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0];
    for (algorithm, finish) in [
        (Algorithm::WeightedRoundRobin, true),
        // Requests held open: the weighted load balances only if the
        // in-flight counts follow the weights.
        (Algorithm::WeightedLeastConnections, false),
    ] {
        let got = shares(algorithm, finish);
        for (g, w) in got.iter().zip(wanted) {
            assert!(
                (g - w).abs() <= 0.02,
                "{algorithm:?}: {got:?} against {wanted:?}"
            );
        }
    }
    for algorithm in [Algorithm::RoundRobin, Algorithm::LeastConnections] {
        let got = shares(algorithm, true);
        assert!(
            got.iter().all(|g| (g - 1.0 / 3.0).abs() <= 0.02),
            "{algorithm:?}: {got:?}"
        );
    }
}

#[test]
fn least_connections_sends_new_requests_away_from_a_slow_endpoint() {
    // One request arrives per tick; a's take 10 ticks, b's and c's one.
    let mut lc = Balancer::new(Algorithm::LeastConnections);
    let mut c = weighted(&[1, 1, 1]);
    let mut finishing: Vec<(usize, usize)> = Vec::new();
    let mut count = [0; 3];
    for tick in 0..1000 {
        finishing.retain(|&(at, i)| {
            let done = at == tick;
            if done {
                c[i].in_flight -= 1;
            }
            !done
        });
        let i = lc.pick(&c).unwrap();
        count[i] += 1;
        c[i].in_flight += 1;
        finishing.push((tick + if i == 0 { 10 } else { 1 }, i));
    }
    assert!(count[0] * 3 < count[1], "the slow endpoint got {count:?}");
}

#[test]
fn algorithm_names_parse_and_an_unknown_one_lists_the_choices() {
    assert_eq!(
        Algorithm::parse("weighted-least-connections"),
        Ok(Algorithm::WeightedLeastConnections)
    );
    let err = Algorithm::parse("ewma").unwrap_err();
    assert!(
        err.contains("\"ewma\" is not one of round-robin, weighted-round-robin"),
        "{err}"
    );
}

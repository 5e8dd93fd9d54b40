//! The histograms' bucket bounds, in seconds, each chosen for the times its series sees.
//!
//! Every bound list is roughly 1–2.5–5 per decade: fine enough to read a p99 off, small enough
//! that a histogram costs a few hundred bytes of `/metrics` per label value.

/// A chat, from the handler's start to its answer. A matched intent is a classifier pass and one
/// conversation append (tens of µs to a few ms); a webhook fallback is dominated by its upstream,
/// bounded by `upstream_timeout_max_ms` (30 s) and `http_request_timeout_ms` (60 s).
pub const CHAT: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0,
];

/// One stage of a webhook execution. Rendering a request, the declarative mapping and the reply
/// template take microseconds; the upstream and the plugin take milliseconds to seconds.
pub const STAGE: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The upstream call, retries included: a loopback answer takes a few hundred µs, a remote API
/// tens of ms to seconds, and `upstream_timeout_max_ms` caps one attempt at 30 s.
pub const UPSTREAM: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// One step of a plugin call: a hook of a small Rust plugin runs in tens of µs, instantiating a
/// JavaScript or Python component takes milliseconds, and `plugin_call_timeout_ms` is 100 ms by
/// default (an operator may raise it).
pub const PLUGIN: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5, 10.0,
];

/// One compilation: Winch compiles a small plugin in tens of ms, Cranelift in hundreds, an 18 MB
/// Python component takes seconds to tens of seconds, and the wall-clock backstop is three times
/// `plugin_compile_timeout_ms` (180 s by default).
pub const COMPILE: &[f64] =
    &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 180.0];

#[cfg(test)]
mod tests {
    #[test]
    fn every_bound_list_rises() {
        for bounds in [super::CHAT, super::STAGE, super::UPSTREAM, super::PLUGIN, super::COMPILE] {
            assert!(bounds.windows(2).all(|pair| pair[0] < pair[1]), "{bounds:?}");
        }
    }
}

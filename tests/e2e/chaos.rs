//! Crash safety and fault injection: processes killed at random moments, and every broker
//! fault at every step of a tick, with the invariants checked after each run.

use crate::fake_alpaca::Fault;
use crate::harness::Bot;
use std::time::{Duration, Instant};

const CROSS_UP: [f64; 5] = [5.0, 4.0, 3.0, 3.0, 6.0];
const CROSS_DOWN: [f64; 5] = [1.0, 2.0, 3.0, 3.0, 0.0];

/// xorshift64*: a deterministic, seedable source of kill delays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// How long the fake holds a POST /v2/orders in targeted runs: well inside the harness's
/// 1 s client timeout, long enough to kill the tick at a random point while it waits.
const POST_HOLD: Duration = Duration::from_millis(120);
/// Broker-clock minutes the settling phase moves on: past any grace period during which an
/// intent whose order is "not found" keeps blocking its symbol (about 2 minutes).
const SETTLE_MINUTES: i64 = 8;

/// Client order ids of the intents in data/state.json (empty when absent or unreadable:
/// the file is replaced by rename, so a read sees the old or the new one, never half).
fn intents_on_disk(bot: &Bot) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(bot.path("data/state.json")) else {
        return Vec::new();
    };
    let Ok(state) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    state["intents"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|i| i["client_order_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Kill the tick once a new intent is on disk (polled), at a random point of the POST the
/// fake holds. `None` when the tick ended without writing an intent (nothing to order).
fn kill_inside_post(
    bot: &Bot,
    child: &mut std::process::Child,
    before: &[String],
    rng: &mut Rng,
) -> Option<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        if intents_on_disk(bot).iter().any(|i| !before.contains(i)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tick neither ended nor wrote an intent in 5 s"
        );
        std::thread::sleep(Duration::from_micros(300));
    }
    let hold = POST_HOLD.as_micros() as u64;
    std::thread::sleep(Duration::from_micros(rng.below(hold * 3 / 4)));
    if child.try_wait().unwrap().is_some() {
        return None;
    }
    child.kill().unwrap(); // SIGKILL on Unix
    Some(())
}

/// The dangerous window: a kill that left an intent of this tick on disk whose answer the tick
/// never wrote to orders.csv (read after the process is dead, so this is what it left behind).
fn killed_in_window(bot: &Bot, before: &[String]) -> bool {
    let recorded: Vec<String> = bot
        .ledger("orders.csv")
        .iter()
        .map(|r| r["client_order_id"].clone())
        .collect();
    intents_on_disk(bot)
        .iter()
        .any(|i| !before.contains(i) && !recorded.contains(i))
}

#[test]
fn two_hundred_kills_mid_tick_never_duplicate_or_lose_an_order() {
    let bot = Bot::new();
    // Many orders in one fake day: lift the daily order cap.
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        format!("{config}\n[risk]\nmax_orders_per_day = 0\n"),
    )
    .unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut kills, mut in_window, mut ticks) = (0, 0, 0);
    let started = Instant::now();
    while kills < 200 && ticks < 2_000 {
        ticks += 1;
        // Alternate buy and sell conditions on both symbols so most ticks place orders.
        let (aapl, tsla) = if ticks % 2 == 0 {
            (231.0, CROSS_UP)
        } else {
            (219.0, CROSS_DOWN)
        };
        bot.next_minute(1, aapl, &tsla);
        let before = intents_on_disk(&bot);
        // Four ticks in five aim at the window between the intent and the answer: the fake
        // holds the POST (committing the order before or after the hold) and the tick dies
        // while it waits. The fifth dies at a random moment, mostly before any POST.
        let targeted = rng.below(5) != 0;
        let mut child = if targeted {
            let fault = if rng.below(2) == 0 {
                Fault::Delay(POST_HOLD)
            } else {
                Fault::CommitThenDelay(POST_HOLD)
            };
            bot.fake.fail("POST", "/v2/orders", fault, 2);
            let mut child = bot.spawn_tick();
            if kill_inside_post(&bot, &mut child, &before, &mut rng).is_some() {
                kills += 1;
            }
            child
        } else {
            let mut child = bot.spawn_tick();
            std::thread::sleep(Duration::from_micros(rng.below(25_000)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL on Unix
                kills += 1;
            }
            child
        };
        let status = child.wait().unwrap();
        if status.code().is_none() && killed_in_window(&bot, &before) {
            in_window += 1;
        }
        bot.fake.clear_faults();
        // Let the fake finish what the dead process had sent: a held POST still commits.
        bot.wait_idle();
        // Mostly filled, so that the next tick has something to order; sometimes left open,
        // so that orders stay tracked across ticks (and block the opposite side).
        if rng.below(4) != 0 {
            bot.fake.fill_open_orders(aapl);
        }
        bot.assert_consistent();
    }
    assert!(kills >= 200, "only {kills} kills in {ticks} ticks");
    eprintln!(
        "kill test: {kills} kills in {ticks} ticks, {in_window} inside the window (intent on disk, \
         answer not recorded), {} broker orders, {:.1} s",
        bot.fake.orders().len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        in_window >= 100,
        "only {in_window} of {kills} kills landed between the intent and the recorded answer"
    );
    // Clean ticks over more broker minutes than any grace period: the first settle what the
    // kills left, fills happen, the last records them.
    let mut minutes = 0;
    while minutes < SETTLE_MINUTES {
        bot.next_minute(2, 225.0, &[250.0; 3]);
        minutes += 2;
        let run = bot.tick();
        crate::check!(run, run.code == 0);
        bot.fake.fill_open_orders(225.0);
    }
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    crate::check!(run, run.code == 0);
    bot.assert_settled();
}

/// Each step of a tick that talks to the broker, as (method, path prefix).
const STEPS: [(&str, &str); 8] = [
    ("GET", "/v2/clock"),
    ("GET", "/v2/account"),
    ("GET", "/v2/stocks/trades/latest"),
    ("GET", "/v2/stocks/bars"),
    ("GET", "/v2/positions"),
    ("GET", "/v2/orders"),
    ("GET", "/v2/account/activities"),
    ("POST", "/v2/orders"),
];

/// A bot whose next tick touches every step: an AAPL order placed and filled on the tick
/// before (so it is tracked and has a fill to record), and new orders to send on both symbols.
fn primed_bot() -> Bot {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    crate::check!(run, run.code == 0 && run.stdout.contains("AAPL buy"));
    bot.fake.fill_open_orders(231.0);
    bot.next_minute(1, 219.0, &CROSS_UP);
    bot.fake.clear_requests();
    bot
}

/// Run every step × `faults` scenario: the faulted tick must end with exit 0 or 1, no panic
/// and consistent files; clean ticks after it must settle everything. Returns the count.
fn storm(faults: &[(Fault, usize)]) -> usize {
    let mut scenarios = 0;
    for (method, path) in STEPS {
        for (fault, times) in faults {
            if matches!(fault, Fault::CommitThenDrop | Fault::CommitThenDelay(_))
                && method != "POST"
            {
                continue;
            }
            scenarios += 1;
            let bot = primed_bot();
            bot.fake.fail(method, path, fault.clone(), *times);
            let run = bot.tick();
            let label = format!("{fault:?} x{times} on {method} {path}");
            // A delayed request the tick gave up on still completes at the fake (a late order).
            bot.wait_idle();
            let reached = bot
                .fake
                .requests()
                .iter()
                .any(|r| r.method == method && r.path.starts_with(path));
            assert!(
                reached,
                "{label}: the tick never reached this step, so the scenario tests nothing"
            );
            crate::check!(run, run.code == 0 || run.code == 1, "{label}: exit code");
            crate::check!(run, !run.stderr.contains("panicked"), "{label}: panic");
            crate::check!(
                run,
                run.code == 0 || run.stderr.contains("error:"),
                "{label}: a failure says why"
            );
            bot.assert_consistent();
            // Clean ticks (any unspent fault is used up by the first ones).
            let mut clean = bot.tick();
            for _ in 0..3 {
                if clean.code == 0 {
                    break;
                }
                bot.next_minute(1, 225.0, &[250.0; 3]);
                clean = bot.tick();
            }
            crate::check!(
                clean,
                clean.code == 0,
                "{label}: the next clean tick succeeds"
            );
            bot.fake.fill_open_orders(225.0);
            // Past the intent grace period: an order the broker never showed is settled now.
            bot.next_minute(3, 225.0, &[250.0; 3]);
            let last = bot.tick();
            crate::check!(last, last.code == 0, "{label}: settled");
            bot.assert_settled();
        }
    }
    scenarios
}

#[test]
fn fault_storm_server_errors() {
    let n = storm(&[
        (
            Fault::Status(500, r#"{"message":"internal server error"}"#.into()),
            1,
        ),
        (
            Fault::Status(500, r#"{"message":"internal server error"}"#.into()),
            3,
        ),
        (Fault::Html(502), 1),
        (Fault::Html(504), 3),
    ]);
    eprintln!("fault storm (5xx): {n} scenarios");
}

#[test]
fn fault_storm_bad_bodies_and_rate_limits() {
    let n = storm(&[
        (Fault::MalformedJson, 1),
        (Fault::RateLimited { headers: true }, 1),
        (Fault::RateLimited { headers: false }, 3),
    ]);
    eprintln!("fault storm (bodies, 429): {n} scenarios");
}

#[test]
fn fault_storm_auth_and_refusals() {
    let n = storm(&[
        (
            Fault::Status(
                401,
                r#"{"code":40110000,"message":"request is not authorized"}"#.into(),
            ),
            1,
        ),
        (Fault::Status(403, r#"{"message":"forbidden."}"#.into()), 1),
        (
            Fault::Status(
                422,
                r#"{"code":40010001,"message":"invalid request"}"#.into(),
            ),
            1,
        ),
    ]);
    eprintln!("fault storm (auth, 4xx): {n} scenarios");
}

#[test]
fn fault_storm_timeouts_and_lost_replies() {
    let n = storm(&[
        (Fault::Delay(Duration::from_millis(1200)), 1),
        (Fault::CommitThenDrop, 1),
        (Fault::CommitThenDelay(Duration::from_millis(1200)), 1),
    ]);
    eprintln!("fault storm (timeouts, lost replies): {n} scenarios");
}

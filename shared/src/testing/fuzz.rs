//! Hostile JSON bodies for the handlers' fuzz tests: each starts from a route's valid sample
//! body and mutates it (a node replaced by a hostile value, a field dropped, an unknown field
//! added, up to three at once), so that most cases get past deserialisation and reach the
//! validation and storage code, which random JSON would not.
//!
//! Deterministic: the cases of a route come from a seed derived from its name, so a failure
//! reproduces; `TRIBUTARY_FUZZ_SEED` explores other cases, `TRIBUTARY_FUZZ_CASES` runs more
//! (or fewer) than [`DEFAULT_CASES`]. A failure names the case, the seed and the mutation.
//! (proptest is not a dependency of the function crates, hence this small generator.)

use serde_json::{Map, Value, json};

/// Cases per route unless `TRIBUTARY_FUZZ_CASES` says otherwise: each case is a request that
/// may reach moto, so CI keeps it small.
pub const DEFAULT_CASES: usize = 24;

/// Bodies are kept under this (the handlers refuse bodies over 256 KiB before parsing, which
/// would test nothing else).
const BODY_BUDGET: usize = 200 * 1024;

/// One mutated body and what was done to the sample, for the failure message.
#[derive(Debug, Clone)]
pub struct Mutant {
    pub body: Value,
    pub what: String,
}

/// The cases for `route` (a name such as `"POST /deals"`), mutations of `sample`.
pub fn mutants(route: &str, sample: &Value) -> Vec<Mutant> {
    let cases = std::env::var("TRIBUTARY_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let base = std::env::var("TRIBUTARY_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let seed = base ^ fnv1a(route.as_bytes());
    mutants_with(sample, cases, seed)
        .into_iter()
        .enumerate()
        .map(|(case, mut mutant)| {
            mutant.what = format!(
                "{route}, case {case} of {cases} (TRIBUTARY_FUZZ_SEED={base}): {}",
                mutant.what
            );
            mutant
        })
        .collect()
}

/// Sends the route's sample (which must succeed: the cases start from a valid body), then each
/// mutant of it, built into a request by `build`, to `handler`; fails on a panic or a 5xx
/// (see [`super::send_user_request`]). Returns how many cases got each status.
pub async fn check_route<B, H, Fut>(
    route: &str,
    sample: &Value,
    build: B,
    handler: H,
) -> std::collections::BTreeMap<u16, usize>
where
    B: Fn(Value) -> lambda_http::Request,
    H: Fn(lambda_http::Request) -> Fut,
    Fut: std::future::Future<Output = lambda_http::Response<lambda_http::Body>>,
{
    let what = format!("{route}, the sample");
    let response = super::send_user_request(&what, &handler, build(sample.clone())).await;
    assert!(
        response.status().is_success(),
        "the sample of {route} must succeed, got {}: {}",
        response.status(),
        String::from_utf8_lossy(response.body().as_ref())
    );
    let mut statuses = std::collections::BTreeMap::new();
    for mutant in mutants(route, sample) {
        let response = super::send_user_request(&mutant.what, &handler, build(mutant.body)).await;
        *statuses.entry(response.status().as_u16()).or_insert(0) += 1;
    }
    eprintln!("{route}: statuses of the fuzz cases {statuses:?}");
    statuses
}

/// `cases` mutations of `sample` from `seed`.
pub fn mutants_with(sample: &Value, cases: usize, seed: u64) -> Vec<Mutant> {
    let mut rng = Rng(seed);
    (0..cases)
        .map(|_| {
            let mut body = sample.clone();
            let rounds = if rng.below(5) == 0 {
                2 + rng.below(2)
            } else {
                1
            };
            let mut what = Vec::new();
            for round in 0..rounds {
                let mut next = body.clone();
                let done = mutate(&mut rng, &mut next);
                // Stacked mutations stay under the body limit, or they would only test the 413.
                if round > 0 && next.to_string().len() > BODY_BUDGET {
                    break;
                }
                body = next;
                what.push(done);
            }
            Mutant {
                body,
                what: what.join("; "),
            }
        })
        .collect()
}

fn mutate(rng: &mut Rng, body: &mut Value) -> String {
    let paths = pointers(body);
    match rng.below(10) {
        // Drop a field.
        0 | 1 => {
            let fields: Vec<&String> = paths.iter().filter(|p| !p.is_empty()).collect();
            if let Some(path) = rng.pick(&fields) {
                let (parent, key) = path.rsplit_once('/').expect("a pointer below the root");
                match body.pointer_mut(parent) {
                    Some(Value::Object(map)) => {
                        map.remove(&unescape(key));
                        return format!("dropped {path}");
                    }
                    Some(Value::Array(items)) => {
                        if let Ok(i) = key.parse::<usize>() {
                            items.remove(i);
                            return format!("dropped {path}");
                        }
                    }
                    _ => {}
                }
            }
            replace(rng, body, "")
        }
        // Add an unknown field to an object.
        2 => {
            let objects: Vec<&String> = paths
                .iter()
                .filter(|p| body.pointer(p).is_some_and(Value::is_object))
                .collect();
            let Some(path) = rng.pick(&objects).map(|p| p.to_string()) else {
                return replace(rng, body, "");
            };
            let (value, kind) = hostile(rng, &Value::Null);
            let name = pick_str(rng, &["unknown", "", "__proto__", "$where", "ä\u{0}", "id"]);
            if let Some(Value::Object(map)) = body.pointer_mut(&path) {
                map.insert(name.to_string(), value);
            }
            format!("added field {name:?} ({kind}) at {path:?}")
        }
        // Replace a node (a leaf more often than not) with a hostile value.
        _ => {
            let leaves: Vec<&String> = paths
                .iter()
                .filter(|p| {
                    body.pointer(p)
                        .is_some_and(|v| !v.is_object() && !v.is_array())
                })
                .collect();
            let path = if rng.below(4) > 0 && !leaves.is_empty() {
                rng.pick(&leaves).map(|p| p.to_string())
            } else {
                rng.pick(&paths.iter().collect::<Vec<_>>())
                    .map(|p| p.to_string())
            };
            replace(rng, body, &path.unwrap_or_default())
        }
    }
}

fn replace(rng: &mut Rng, body: &mut Value, path: &str) -> String {
    let Some(node) = body.pointer_mut(path) else {
        return String::from("nothing");
    };
    let (value, kind) = hostile(rng, node);
    *node = value;
    format!(
        "{} replaced by {kind}",
        if path.is_empty() { "the body" } else { path }
    )
}

/// A hostile value, sometimes derived from the one it replaces. Returns it and a short label.
pub fn hostile(rng: &mut Rng, like: &Value) -> (Value, String) {
    const TRICKY: &[&str] = &[
        "\u{0}",
        "\u{7f}",
        "\u{202e}",
        "\u{feff}",
        "e\u{301}",
        "ä",
        "ß",
        "İ",
        "👩‍👩‍👧",
        "漢字",
        "\u{10ffff}",
        "\t",
        "\r",
        "\n",
        "\"",
        "\\",
        "/",
        "%00",
        "#",
        "=",
        "+",
        "-",
        "@",
        "..",
        " ",
        "'",
        ";",
        "\u{2028}",
    ];
    const NUMBERS: &[f64] = &[
        1e300, -1e300, -1.0, 0.0, -0.0, 0.5, 1e-300, 7.9e28, -7.9e28, 1.5, 1e21,
    ];
    const AMOUNTS: &[&str] = &[
        "79228162514264337593543950335",
        "-79228162514264337593543950335",
        "792281625142643375935439503350",
        "1e300",
        "0.0000000000000000000000000001",
        "1.99999999999999999999999999999999",
        "-1",
        "-0",
        "0",
        "NaN",
        "Infinity",
        " 1",
        "1,5",
        "0x10",
        "١٢٣",
        "18446744073709551616",
    ];
    const DATES: &[&str] = &[
        "2026-02-30",
        "9999-12-31",
        "0000-01-01",
        "+275760-09-13",
        "2026-13-01",
        "2026-1-1",
        "1970-01-01",
        "2262-04-12",
        "2026-12-01T00:00:00Z",
    ];
    match rng.below(17) {
        0 => {
            let n = 10_000 + rng.below(90_000) as usize;
            (
                Value::String("x".repeat(n)),
                format!("an ASCII string of {n} bytes"),
            )
        }
        1 => {
            let target = 10_000 + rng.below(90_000) as usize;
            let mut text = String::new();
            while text.len() < target {
                text.push_str(pick_str(rng, TRICKY));
            }
            let n = text.len();
            (
                Value::String(text),
                format!("a Unicode string of {n} bytes"),
            )
        }
        2 => {
            let n = 1 + rng.below(40);
            let text: String = (0..n).map(|_| pick_str(rng, TRICKY)).collect();
            (Value::String(text.clone()), format!("the string {text:?}"))
        }
        3 => (json!(""), String::from("an empty string")),
        4 => (json!("   "), String::from("a blank string")),
        5 => {
            let n = NUMBERS[rng.below(NUMBERS.len() as u64) as usize];
            (json!(n), format!("the number {n:e}"))
        }
        6 => {
            let n = match rng.below(4) {
                0 => json!(u64::MAX),
                1 => json!(i64::MIN),
                2 => json!(9_007_199_254_740_993_u64),
                _ => json!(-1),
            };
            (n.clone(), format!("the integer {n}"))
        }
        7 => {
            // A long numeral, which a decimal parser reads one nested call per character.
            let long = match rng.below(4) {
                0 => "0".repeat(10_000 + rng.below(90_000) as usize),
                1 => "1_".repeat(5_000 + rng.below(45_000) as usize),
                _ => String::new(),
            };
            let text = if long.is_empty() {
                pick_str(rng, AMOUNTS)
            } else {
                &long
            };
            match like {
                // An amount object keeps its shape with the hostile amount inside.
                Value::Object(map) if map.contains_key("amount") => {
                    let mut map = map.clone();
                    map.insert("amount".into(), json!(text));
                    (Value::Object(map), format!("the amount {:?}", cut(text)))
                }
                _ => (json!(text), format!("the string {:?}", cut(text))),
            }
        }
        8 => {
            let text = pick_str(rng, DATES);
            (json!(text), format!("the date {text:?}"))
        }
        9 => (Value::Null, String::from("null")),
        10 => {
            let b = rng.below(2) == 0;
            (json!(b), format!("{b}"))
        }
        11 => {
            let depth = 1 + rng.below(140) as usize;
            let mut value = json!(1);
            for _ in 0..depth {
                value = json!([value]);
            }
            (value, format!("arrays nested {depth} deep"))
        }
        12 => {
            // Many copies of the node itself (a list of many valid entries), within the budget.
            let item = match like {
                Value::Array(items) if !items.is_empty() => items[0].clone(),
                Value::Null => json!(0),
                other => other.clone(),
            };
            let size = item.to_string().len().max(1) + 1;
            let n = (1000 + rng.below(4000) as usize)
                .min(BODY_BUDGET / size)
                .max(1);
            (
                Value::Array(vec![item; n]),
                format!("an array of {n} copies"),
            )
        }
        13 => match rng.below(2) {
            0 => (json!([]), String::from("an empty array")),
            _ => (json!({}), String::from("an empty object")),
        },
        14 => {
            let n = 200 + rng.below(800) as usize;
            let map: Map<String, Value> = (0..n).map(|i| (format!("k{i}"), json!(i))).collect();
            (Value::Object(map), format!("an object of {n} fields"))
        }
        15 => match like {
            // The same kind of value, at its extremes.
            Value::String(s) if !s.is_empty() => {
                let n = (10_000 + rng.below(90_000) as usize) / s.len() + 1;
                (json!(s.repeat(n)), format!("{s:?} repeated {n} times"))
            }
            Value::Array(items) if !items.is_empty() => {
                let size = Value::Array(items.clone()).to_string().len();
                let n = (BODY_BUDGET / size).clamp(1, 1000);
                let many: Vec<Value> = items
                    .iter()
                    .cycle()
                    .take(items.len() * n)
                    .cloned()
                    .collect();
                let len = many.len();
                (
                    Value::Array(many),
                    format!("the array repeated to {len} items"),
                )
            }
            Value::Number(n) => {
                let negated = -n.as_f64().unwrap_or(1.0) * 1e20;
                (json!(negated), format!("the number {negated:e}"))
            }
            _ => (json!(-1), String::from("the integer -1")),
        },
        _ => match like {
            // Another type carrying the same content.
            Value::String(s) => {
                let value = s.parse::<f64>().map(|n| json!(n)).unwrap_or(json!([s]));
                (value.clone(), format!("{value} for a string"))
            }
            Value::Number(n) => (json!(n.to_string()), format!("\"{n}\" for a number")),
            Value::Bool(b) => (json!(b.to_string()), format!("\"{b}\" for a boolean")),
            other => (
                json!(other.to_string()),
                String::from("the node as a string"),
            ),
        },
    }
}

/// JSON pointers of every node of `value`, the root (`""`) first.
fn pointers(value: &Value) -> Vec<String> {
    fn walk(value: &Value, path: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                out.push(path.clone());
                for (key, child) in map {
                    let key = key.replace('~', "~0").replace('/', "~1");
                    walk(child, format!("{path}/{key}"), out);
                }
            }
            Value::Array(items) => {
                out.push(path.clone());
                for (i, child) in items.iter().enumerate() {
                    walk(child, format!("{path}/{i}"), out);
                }
            }
            _ => out.push(path),
        }
    }
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out
}

/// A label's view of a long text.
fn cut(text: &str) -> String {
    if text.len() <= 40 {
        text.to_string()
    } else {
        format!("{}... ({} bytes)", &text[..40], text.len())
    }
}

fn unescape(key: &str) -> String {
    key.replace("~1", "/").replace("~0", "~")
}

fn pick_str<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.below(from.len() as u64) as usize]
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64: small, seedable, good enough to choose mutations.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0 to `n - 1` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> Option<&'a T> {
        if from.is_empty() {
            None
        } else {
            Some(&from[self.below(from.len() as u64) as usize])
        }
    }
}

/// Arbitrary bytes for raw bodies (the signed webhook route): mostly JSON-ish, sometimes not UTF-8.
pub fn hostile_bytes(rng: &mut Rng, sample: &[u8]) -> (Vec<u8>, String) {
    match rng.below(5) {
        0 => {
            let n = rng.below(300_000) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            (bytes, format!("{n} random bytes"))
        }
        1 => {
            let mut bytes = sample.to_vec();
            let at = rng.below(bytes.len().max(1) as u64) as usize;
            bytes.truncate(at);
            (bytes, format!("the sample cut at byte {at}"))
        }
        2 => {
            let mut bytes = sample.to_vec();
            for _ in 0..1 + rng.below(8) {
                if bytes.is_empty() {
                    break;
                }
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] = rng.next_u64() as u8;
            }
            (bytes, String::from("the sample with bytes flipped"))
        }
        _ => (Vec::new(), String::from("no body")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_are_deterministic_varied_and_mostly_keep_the_sample_shape() {
        let sample =
            json!({"a": {"amount": "1.00", "currency": "USD"}, "b": ["x", "y"], "c": "text"});
        let first = mutants_with(&sample, 64, 7);
        let again = mutants_with(&sample, 64, 7);
        assert_eq!(
            first.iter().map(|m| &m.body).collect::<Vec<_>>(),
            again.iter().map(|m| &m.body).collect::<Vec<_>>()
        );
        let changed = first.iter().filter(|m| m.body != sample).count();
        assert!(changed > 60, "{changed} of 64 changed the sample");
        // Most cases keep an object at the root, so they reach the fields' own checks.
        let objects = first.iter().filter(|m| m.body.is_object()).count();
        assert!(objects > 48, "{objects} of 64 kept an object");
        let kinds: std::collections::BTreeSet<_> = first
            .iter()
            .map(|m| m.what.split(' ').next().unwrap_or_default().to_string())
            .collect();
        assert!(kinds.len() > 3, "{kinds:?}");
        assert!(
            first
                .iter()
                .all(|m| m.body.to_string().len() < crate::http::MAX_BODY_BYTES),
            "bodies fit the request limit"
        );
    }

    #[test]
    fn every_kind_of_hostile_value_is_produced() {
        let mut rng = Rng(1);
        let labels: Vec<String> = (0..400)
            .map(|_| hostile(&mut rng, &json!({"amount": "1", "currency": "USD"})).1)
            .collect();
        for expected in [
            "Unicode string",
            "ASCII string",
            "amount",
            "nested",
            "copies",
            "null",
        ] {
            assert!(
                labels.iter().any(|l| l.contains(expected)),
                "no {expected} in {labels:?}"
            );
        }
    }
}

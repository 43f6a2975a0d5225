//! Versions as Piston's clients see them: semver, made from what an image
//! records (`gcc (Debian 12.2.0-14+deb12u1) 12.2.0` → `12.2.0`, `Mono JIT
//! compiler version 6.8.0.105` → `6.8.0`, `Welcome to Racket v8.7 [cs].` →
//! `8.7.0`), and matched the way Piston matches them (node's semver: `*`,
//! `3.x`, `3.11` meaning `3.11.x`, and a full version meaning exactly it).

use semver::{Version, VersionReq};

/// The first `N.N[.N…]` in `recorded` (a leading `v`, `go` or quote
/// dropped), as `major.minor.patch`; parts past the third are dropped and
/// missing ones are 0.
pub fn normalize(recorded: &str) -> Option<Version> {
    recorded.split_whitespace().find_map(|token| {
        let start = token.find(|c: char| c.is_ascii_digit())?;
        let rest = &token[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let parts: Vec<u64> = rest[..end]
            .split('.')
            .take_while(|p| !p.is_empty())
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        // A version has at least two parts, and nothing but letters before it.
        let prefix_ok = token[..start]
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '"');
        (parts.len() >= 2 && prefix_ok)
            .then(|| Version::new(parts[0], parts[1], parts.get(2).copied().unwrap_or(0)))
    })
}

/// `wanted` as node's semver reads it, or `None` when it is not a range.
pub fn requirement(wanted: &str) -> Option<VersionReq> {
    let wanted = wanted.trim();
    let numeric = !wanted.is_empty() && wanted.chars().all(|c| c.is_ascii_digit() || c == '.');
    let text = if numeric {
        // node: `3` is `3.x`, `3.11` is `3.11.x`, `3.11.2` is exactly it.
        match wanted.split('.').count() {
            1 | 2 => format!("{wanted}.*"),
            _ => format!("={wanted}"),
        }
    } else {
        // node separates the comparators of one range with spaces.
        wanted.split_whitespace().collect::<Vec<_>>().join(", ")
    };
    VersionReq::parse(&text).ok()
}

/// The highest of `versions` that `wanted` matches.
pub fn best<'a>(
    wanted: &VersionReq,
    versions: impl IntoIterator<Item = &'a Version>,
) -> Option<&'a Version> {
    versions.into_iter().filter(|v| wanted.matches(v)).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_images_record_becomes_semver() {
        for (recorded, want) in [
            ("gcc (Debian 12.2.0-14+deb12u1) 12.2.0", "12.2.0"),
            (
                "Mono JIT compiler version 6.8.0.105 (Debian 6.8.0.105+dfsg-3.3+deb12u1)",
                "6.8.0",
            ),
            ("Welcome to Racket v8.7 [cs].", "8.7.0"),
            ("Racket 8.7 CS", "8.7.0"),
            ("Python 3.11.2", "3.11.2"),
            ("go version go1.19.8 linux/amd64", "1.19.8"),
            ("openjdk version \"17.0.19\" 2026-04-21", "17.0.19"),
            (
                "GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)",
                "5.2.15",
            ),
            ("NASM version 2.16.01", "2.16.1"),
            ("ruby 3.1.2p20 (2022-04-12 revision 4491bb740a)", "3.1.2"),
            (".NET Core SDK 2.2.104", "2.2.104"),
            ("SBCL 2.2.9.debian", "2.2.9"),
            ("Node.js v18.20.4", "18.20.4"),
        ] {
            assert_eq!(normalize(recorded).unwrap().to_string(), want, "{recorded}");
        }
        assert_eq!(normalize("no version here"), None);
    }

    #[test]
    fn ranges_match_as_nodes_semver_does_and_the_highest_wins() {
        let v = |s: &str| Version::parse(s).unwrap();
        let installed = [v("3.10.4"), v("3.11.2"), v("2.7.18")];
        let pick =
            |wanted: &str| best(&requirement(wanted).unwrap(), &installed).map(|v| v.to_string());
        assert_eq!(pick("*").as_deref(), Some("3.11.2"));
        assert_eq!(pick("3.x").as_deref(), Some("3.11.2"));
        assert_eq!(pick("3").as_deref(), Some("3.11.2"));
        assert_eq!(pick("3.10").as_deref(), Some("3.10.4"));
        assert_eq!(pick("3.10.4").as_deref(), Some("3.10.4"));
        assert_eq!(pick("3.10.5"), None, "a full version is exact");
        assert_eq!(pick(">=2.7 <3.11").as_deref(), Some("3.10.4"));
        assert_eq!(pick("2.x").as_deref(), Some("2.7.18"));
        assert!(requirement("latest").is_none());
    }
}

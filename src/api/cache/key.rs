//! The cache's key: a SHA-256 over every input that can change a run's
//! output: the language (its id, image and whole definition: steps, env,
//! limits), the instance's limits and whipcode's version, the code, the
//! args, stdin, env and the effective timeouts, the files. Instances
//! sharing a cache whose maps or limits differ never answer for each
//! other; what the key cannot see is an image rebuilt under the same tag
//! (see the shared cache's docs). Each field is length-prefixed
//! before hashing, so no two different requests share a key by moving bytes
//! between fields.

use sha2::{Digest, Sha256};

use crate::api::request::RunRequest;

/// One request's key; the same on every instance for the same inputs (and
/// the same images), so a shared cache answers for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// `request`'s key on an instance whose limits are `limits` (any value
    /// whose `Debug` says them whole).
    pub fn of(request: &RunRequest, limits: &impl std::fmt::Debug) -> CacheKey {
        let mut hash = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(b"whipcode-cache-v2");
        field(env!("CARGO_PKG_VERSION").as_bytes());
        field(format!("{limits:?}").as_bytes());
        field(&request.language.id.to_le_bytes());
        field(request.language.image_ref().as_bytes());
        field(format!("{:?}", request.language).as_bytes());
        field(&request.code);
        field(&(request.args.len() as u64).to_le_bytes());
        for arg in &request.args {
            field(arg.as_bytes());
        }
        field(&request.stdin);
        let mut env: Vec<_> = request.env.iter().collect();
        env.sort();
        field(&(env.len() as u64).to_le_bytes());
        for (name, value) in env {
            field(name.as_bytes());
            field(value.as_bytes());
        }
        field(&request.timeout.as_millis().to_le_bytes());
        field(&request.compile_timeout.as_millis().to_le_bytes());
        field(&(request.files.len() as u64).to_le_bytes());
        for (name, content) in &request.files {
            field(name.as_bytes());
            field(content);
        }
        CacheKey(hash.finalize().into())
    }
}

/// A key from its digest (the tests of the shared cache make their own).
impl From<[u8; 32]> for CacheKey {
    fn from(digest: [u8; 32]) -> CacheKey {
        CacheKey(digest)
    }
}

impl CacheKey {
    /// Its 64 hex digits, how the shared cache names its entry.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_changes_with_every_input() {
        let languages = crate::languages::LanguageMap::load(None).unwrap();
        let base = RunRequest {
            language: languages.get(1).unwrap().clone(),
            code: b"print(1)".to_vec(),
            args: vec!["-O".into()],
            timeout: std::time::Duration::from_secs(5),
            stdin: b"in".to_vec(),
            env: vec![("A".into(), "1".into()), ("B".into(), "2".into())],
            files: vec![("lib.py".into(), b"x = 1".to_vec())],
            compile_timeout: std::time::Duration::from_secs(5),
        };
        let key = CacheKey::of(&base, &"limits");
        type Change<'a> = Box<dyn Fn(&mut RunRequest) + 'a>;
        let variants: Vec<Change> = vec![
            Box::new(|r| r.language = languages.get(3).unwrap().clone()),
            Box::new(|r| r.code.push(b' ')),
            Box::new(|r| r.args.push("-B".into())),
            Box::new(|r| r.args = vec!["-O-B".into()]),
            Box::new(|r| r.stdin.push(b'\n')),
            Box::new(|r| r.env[0].1 = "2".into()),
            Box::new(|r| r.env.push(("C".into(), String::new()))),
            Box::new(|r| r.timeout = std::time::Duration::from_secs(6)),
            Box::new(|r| r.compile_timeout = std::time::Duration::from_secs(6)),
            Box::new(|r| r.files[0].0 = "lib2.py".into()),
            Box::new(|r| r.files[0].1.push(b' ')),
            Box::new(|r| r.files.push(("b".into(), Vec::new()))),
            // Bytes moved from code to stdin.
            Box::new(|r| {
                r.code.pop();
                r.stdin.insert(0, b')');
            }),
        ];
        for (i, change) in variants.iter().enumerate() {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(
                CacheKey::of(&changed, &"limits"),
                key,
                "variant {i} shares the key"
            );
        }
        let mut reordered = base.clone();
        reordered.env.reverse();
        assert_eq!(
            CacheKey::of(&reordered, &"limits"),
            key,
            "env order does not matter"
        );
        assert_ne!(
            CacheKey::of(&base, &"other limits"),
            key,
            "another instance's limits"
        );
        let mut redefined = base.clone();
        let mut language = (*base.language).clone();
        language.env.insert("X".into(), "1".into());
        redefined.language = std::sync::Arc::new(language);
        assert_ne!(
            CacheKey::of(&redefined, &"limits"),
            key,
            "a language defined otherwise"
        );
    }
}

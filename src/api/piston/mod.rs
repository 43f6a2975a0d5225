//! Piston's API (`/api/v2/…`), served over the same sandbox. In progress:
//! - [`version`]: semver versions from the images' labels, matched as Piston does.

pub mod version;

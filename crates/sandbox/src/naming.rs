//! Names and labels of what whipcode leaves in podman: image references,
//! the labels its image builder and its sandbox set and read, and container
//! names. Low-level on purpose: the builder and the sandbox both use it and
//! neither needs the other.

/// Prefix of every image name; images are local and never pulled.
pub const IMAGE_PREFIX: &str = "localhost/whipcode-";

/// The full reference of the project image `name`.
pub fn image_ref(name: &str) -> String {
    format!("{IMAGE_PREFIX}{name}:latest")
}

/// Image label: hash of the recipe an image was built from.
pub const RECIPE_LABEL: &str = "whipcode.recipe";
/// Image label: the toolchain version detected in a built image.
pub const VERSION_LABEL: &str = "whipcode.version";

/// Container label key naming the project; its value is [`PROJECT_LABEL_VALUE`].
pub const PROJECT_LABEL_KEY: &str = "whipcode.project";
pub const PROJECT_LABEL_VALUE: &str = "whipcode";
/// `key=value` of the project label, as podman's filters take it.
pub const PROJECT_LABEL: &str = "whipcode.project=whipcode";
/// Container label key naming the instance that owns a container.
pub const INSTANCE_LABEL: &str = "whipcode.instance";

/// Container labels naming the server process that owns a container: its
/// pid, its start time (clock ticks after boot) and the boot's id. Together
/// they tell whether that process still runs, whatever its instance name.
pub const OWNER_PID_LABEL: &str = "whipcode.owner.pid";
pub const OWNER_START_LABEL: &str = "whipcode.owner.start";
pub const OWNER_BOOT_LABEL: &str = "whipcode.owner.boot";

/// Container label: the first host id of the container's own id range.
pub const ID_RANGE_LABEL: &str = "whipcode.idrange";

/// A new, unique container name for `instance`.
pub fn container_name(instance: &str) -> String {
    format!("whipcode-{instance}-{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_label_is_its_key_and_value() {
        assert_eq!(
            PROJECT_LABEL,
            format!("{PROJECT_LABEL_KEY}={PROJECT_LABEL_VALUE}")
        );
    }

    #[test]
    fn container_names_are_unique_and_name_their_instance() {
        let (a, b) = (container_name("i1"), container_name("i1"));
        assert_ne!(a, b);
        assert!(a.starts_with("whipcode-i1-"), "{a}");
        assert_eq!(image_ref("c"), "localhost/whipcode-c:latest");
    }
}

//! The built-in variables every template may name: `latest_message`, `send_id`, `project`.

/// Names of the built-in variables, in the order error messages list them.
pub const BUILTIN_NAMES: [&str; 3] = ["latest_message", "send_id", "project"];

pub fn is_builtin(name: &str) -> bool {
    BUILTIN_NAMES.contains(&name)
}

/// The facts of one fallback: what the user said, in which conversation, for which project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtins<'a> {
    pub latest_message: &'a str,
    pub send_id: &'a str,
    pub project: &'a str,
}

impl<'a> Builtins<'a> {
    pub fn get(&self, name: &str) -> Option<&'a str> {
        match name {
            "latest_message" => Some(self.latest_message),
            "send_id" => Some(self.send_id),
            "project" => Some(self.project),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_name_has_a_value() {
        let b = Builtins { latest_message: "hi", send_id: "s1", project: "p" };
        assert_eq!(BUILTIN_NAMES.map(|n| b.get(n)), [Some("hi"), Some("s1"), Some("p")]);
        assert_eq!(b.get("reply"), None);
        assert!(is_builtin("send_id") && !is_builtin("secret.send_id"));
    }
}

//! other-world-plugin: a valid component of another world (`other:thing`), which the host must
//! refuse as "wrong world", naming the missing `extract` and `format` exports.

wit_bindgen::generate!({ world: "thing", path: "wit" });

struct Thing;

impl Guest for Thing {
    fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

export!(Thing);

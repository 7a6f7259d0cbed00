//! Error messages that keep their causes.

/// An error and its causes on one line (`outer: cause: root cause`): a client's error
/// says only "client error" until its causes say what went wrong (refused, TLS).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_causes_follow_the_error_on_one_line() {
        let root = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let outer = std::io::Error::other(root);
        assert_eq!(super::chain(&outer), "connection refused");
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Client(#[source] std::io::Error);
        let e = Client(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"));
        assert_eq!(super::chain(&e), "client error (Connect): connection refused");
    }
}

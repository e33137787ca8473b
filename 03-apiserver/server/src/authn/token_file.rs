//! Static bearer tokens from a file: kube-apiserver's `--token-auth-file`.
//!
//! Each line is CSV: `token,user,uid` and optionally a fourth field of
//! groups, quoted when there are several: `t0k3n,alice,1001,"dev,ops"`.
//! Lines starting with `#` are comments. Tokens in a file are the simplest
//! credential there is, and the least safe: they never expire and changing
//! one means restarting the server. Kubernetes keeps the format for
//! bootstrapping and tests; so does orc.

use std::collections::HashMap;

use super::UserInfo;

/// Why a token file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// A line is not `token,user,uid[,groups]`.
    #[error("line {line}: {message} (expected token,user,uid[,\"group1,group2\"])")]
    Line { line: usize, message: String },
}

/// Tokens and the user each one names.
#[derive(Debug, Clone, Default)]
pub struct TokenFile {
    users: HashMap<String, UserInfo>,
    /// The first token in the file: `orc server` hands it to the
    /// components it starts in-process.
    first: Option<String>,
}

impl TokenFile {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<TokenFile, TokenFileError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut file = TokenFile::default();
        for record in reader.records() {
            let record = record.map_err(|e| TokenFileError::Line {
                line: e.position().map_or(0, |p| p.line() as usize),
                message: e.to_string(),
            })?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            let field = |i: usize| record.get(i).unwrap_or("");
            let (token, name) = (field(0), field(1));
            if token.is_empty() {
                continue;
            }
            if name.is_empty() {
                return Err(TokenFileError::Line {
                    line,
                    message: "the user name (second field) is missing".into(),
                });
            }
            let groups: Vec<&str> = field(3)
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .collect();
            file.first.get_or_insert_with(|| token.to_string());
            file.users.insert(
                token.to_string(),
                UserInfo::authenticated(name, field(2), &groups),
            );
        }
        Ok(file)
    }

    /// The user a token names, if the file has it.
    pub fn user(&self, token: &str) -> Option<&UserInfo> {
        self.users.get(token)
    }

    /// The file's first token.
    pub fn first(&self) -> Option<&str> {
        self.first.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::AUTHENTICATED;

    #[test]
    fn lines_name_users_with_their_groups() {
        let file = TokenFile::parse(
            "# comment\nabc,admin,1,system:masters\n\ndef,alice,2,\"dev,ops\"\n ghi , bob , 3 \n",
        )
        .unwrap();
        assert_eq!(file.first(), Some("abc"));
        let admin = file.user("abc").unwrap();
        assert_eq!(admin.name, "admin");
        assert_eq!(admin.groups, ["system:masters", AUTHENTICATED]);
        let alice = file.user("def").unwrap();
        assert_eq!((alice.name.as_str(), alice.uid.as_str()), ("alice", "2"));
        assert_eq!(alice.groups, ["dev", "ops", AUTHENTICATED]);
        assert_eq!(file.user("ghi").unwrap().groups, [AUTHENTICATED]);
        assert!(file.user("nope").is_none());
    }

    #[test]
    fn a_token_without_a_user_is_refused_with_its_line() {
        let error = TokenFile::parse("abc,admin,1\nlonely\n").unwrap_err();
        assert!(error.to_string().starts_with("line 2: "), "{error}");
    }
}

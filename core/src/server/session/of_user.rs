//! One user's live sessions, in login order, without an allocation for
//! the usual single session.
//!
//! Most users have one session at a time (the scale run: 10 000 users,
//! one session each), and a `Vec` of one id allocates room for four (32
//! bytes) beside the map entry. The one-session case therefore holds its
//! id in place; a second session moves both into a vector, and the
//! vector goes when the user is down to one again.

use crate::SessionId;

#[derive(Debug)]
pub(crate) enum UserSessions {
    One(SessionId),
    /// Two or more, oldest first.
    Many(Vec<SessionId>),
}

impl UserSessions {
    /// The sessions, oldest first.
    pub(crate) fn as_slice(&self) -> &[SessionId] {
        match self {
            Self::One(id) => std::slice::from_ref(id),
            Self::Many(ids) => ids,
        }
    }

    /// Appends a newer session.
    pub(crate) fn push(&mut self, id: SessionId) {
        match self {
            Self::One(first) => *self = Self::Many(vec![*first, id]),
            Self::Many(ids) => ids.push(id),
        }
    }

    /// Removes `id`, keeping the others' order; returns whether none is
    /// left (the caller then drops the entry).
    pub(crate) fn remove(&mut self, id: SessionId) -> bool {
        match self {
            Self::One(only) => *only == id,
            Self::Many(ids) => {
                ids.retain(|&other| other != id);
                match ids[..] {
                    [] => true,
                    [only] => {
                        *self = Self::One(only);
                        false
                    }
                    _ => false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> SessionId {
        SessionId::new(n).unwrap()
    }

    #[test]
    fn sessions_keep_login_order_and_one_is_held_in_place() {
        let mut s = UserSessions::One(id(1));
        assert_eq!(s.as_slice(), [id(1)]);
        s.push(id(2));
        s.push(id(3));
        assert_eq!(s.as_slice(), [id(1), id(2), id(3)]);
        assert!(!s.remove(id(2)));
        assert_eq!(s.as_slice(), [id(1), id(3)]);
        assert!(!s.remove(id(7)), "an id not listed changes nothing");
        assert!(!s.remove(id(1)));
        assert!(matches!(s, UserSessions::One(only) if only == id(3)));
        assert!(s.remove(id(3)), "the last one gone");
        assert!(!UserSessions::One(id(4)).remove(id(5)));
    }
}

//! The sending engine: dispatch (audience → messages), compose (content → MIME) and deliver
//! (MIME → relay or sandbox, outcome → state).

pub mod compose;
pub mod deliver;
pub mod dispatch;
pub mod identity;
pub mod outcomes;
pub mod settle;

//! Contacts, their typed properties, and the rules every address and value must pass.

mod contact;
mod definitions;
pub mod email;
pub mod property_type;
pub mod sensitive;

pub use contact::{Contact, ContactChanges, ContactFilter, NewContact, clean_name};
pub use definitions::{PropertyDefinition, Schema, check_properties};
pub use email::EmailAddress;
pub use property_type::PropertyType;

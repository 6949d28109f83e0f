//! Campaigns: their content and lifecycle, and the audience they go to.

pub mod audience;
mod campaign;

pub use campaign::{
    BounceValve, Campaign, CampaignDraft, CampaignStatus, MAX_SUBJECT_CHARS, Progress,
};

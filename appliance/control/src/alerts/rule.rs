//! An alert rule: a condition on a flow (or on every flow), held for a time.

use serde::{Deserialize, Serialize};

/// What an alert watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// An enabled input not live for `for_secs`.
    InputDown,
    /// An output failing (retrying, incompatible, out of disk) or stalled (live with no data
    /// moving) for `for_secs`.
    OutputFailing,
    /// An input's bit rate below `threshold` kbit/s for `for_secs` (while live).
    LowBitrate,
    /// SRT packet loss above `threshold` % over `for_secs` (input or output with SRT).
    SrtLoss,
    /// The recordings' disk below `threshold` % free.
    DiskLow,
    /// A certificate expiring in less than `threshold` days.
    CertExpiry,
}

impl Condition {
    pub const ALL: [Condition; 6] = [
        Condition::InputDown,
        Condition::OutputFailing,
        Condition::LowBitrate,
        Condition::SrtLoss,
        Condition::DiskLow,
        Condition::CertExpiry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::InputDown => "input_down",
            Condition::OutputFailing => "output_failing",
            Condition::LowBitrate => "low_bitrate",
            Condition::SrtLoss => "srt_loss",
            Condition::DiskLow => "disk_low",
            Condition::CertExpiry => "cert_expiry",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether `threshold` is required (and what it means).
    pub fn needs_threshold(self) -> bool {
        matches!(
            self,
            Condition::LowBitrate | Condition::SrtLoss | Condition::DiskLow | Condition::CertExpiry
        )
    }
}

/// One configured rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub id: i64,
    pub name: String,
    pub condition: Condition,
    /// `None`: every input (the condition's flows). Ignored by disk and certificate rules.
    pub input: Option<String>,
    /// `None`: every output of the matched inputs (output rules only).
    pub output: Option<String>,
    /// kbit/s, %, or days, by condition.
    pub threshold: Option<f64>,
    /// How long the condition must hold before the alert starts.
    pub for_secs: u32,
    pub enabled: bool,
}

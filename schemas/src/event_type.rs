use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Every event type Strata knows. The wire name (`agent.invocation.completed`) is the contract
/// with producers; the enum is how the rest of the code speaks about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    AgentInvocationStarted,
    AgentInvocationCompleted,
    AgentFeedbackGiven,
    PlayerSessionStarted,
    PlayerSessionEnded,
    MissionStarted,
    MissionCompleted,
    MissionFailed,
    EconomyTransaction,
}

/// The Silver table an event type refines into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventFamily {
    AgentInvocations,
    AgentFeedback,
    PlayerSessions,
    Missions,
    EconomyTransactions,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::AgentInvocationStarted,
        EventType::AgentInvocationCompleted,
        EventType::AgentFeedbackGiven,
        EventType::PlayerSessionStarted,
        EventType::PlayerSessionEnded,
        EventType::MissionStarted,
        EventType::MissionCompleted,
        EventType::MissionFailed,
        EventType::EconomyTransaction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AgentInvocationStarted => "agent.invocation.started",
            EventType::AgentInvocationCompleted => "agent.invocation.completed",
            EventType::AgentFeedbackGiven => "agent.feedback.given",
            EventType::PlayerSessionStarted => "player.session.started",
            EventType::PlayerSessionEnded => "player.session.ended",
            EventType::MissionStarted => "mission.started",
            EventType::MissionCompleted => "mission.completed",
            EventType::MissionFailed => "mission.failed",
            EventType::EconomyTransaction => "economy.transaction",
        }
    }

    pub fn family(self) -> EventFamily {
        match self {
            EventType::AgentInvocationStarted | EventType::AgentInvocationCompleted => {
                EventFamily::AgentInvocations
            }
            EventType::AgentFeedbackGiven => EventFamily::AgentFeedback,
            EventType::PlayerSessionStarted | EventType::PlayerSessionEnded => {
                EventFamily::PlayerSessions
            }
            EventType::MissionStarted | EventType::MissionCompleted | EventType::MissionFailed => {
                EventFamily::Missions
            }
            EventType::EconomyTransaction => EventFamily::EconomyTransactions,
        }
    }

    /// Agent events go to the agent topic, everything else to the gameplay topic.
    pub fn is_agent_event(self) -> bool {
        matches!(
            self.family(),
            EventFamily::AgentInvocations | EventFamily::AgentFeedback
        )
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::UnknownEventType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
        }
        assert!("agent.unknown".parse::<EventType>().is_err());
    }
}

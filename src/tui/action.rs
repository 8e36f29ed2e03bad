//! Everything a user can do on the board, as data.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    StartFilter,
    CycleSort,
    CycleWindow,
    ToggleGroups,
    ToggleFaults,
    PollNow,
    ShowIncidents,
    ShowMaintenance,
    ShowHelp,
    Quit,
}

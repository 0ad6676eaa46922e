-- Every signed state of every space, so that a client can check the whole chain from the
-- version it saw last to the current one (a fork two or more versions ahead is caught).
CREATE TABLE space_state_history (
    space   TEXT NOT NULL,
    version INTEGER NOT NULL,
    state   BLOB NOT NULL,
    PRIMARY KEY (space, version)
);
INSERT INTO space_state_history (space, version, state) SELECT space, version, state FROM space_states;

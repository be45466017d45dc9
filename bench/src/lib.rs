//! What the bench programs share: the result files they write into `bench/results/`
//! and `report` reads back (table, markdown fragment, plots).

pub mod results;

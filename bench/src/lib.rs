//! What the bench programs share: the result files they write into `bench/results/`
//! and `report` reads back, and the plots `report` draws from them.

pub mod load;
pub mod plots;
pub mod results;

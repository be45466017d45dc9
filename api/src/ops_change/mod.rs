//! Ops changes to the catalog and the stores, one function per change, called by the
//! ops API and by the console alike: the same checks, the same `ops_audit` row and, for
//! stock, the same low-stock check, whichever face ops used.

pub mod refund;
pub mod sku;
pub mod store;

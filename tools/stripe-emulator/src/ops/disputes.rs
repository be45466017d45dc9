//! Disputes (chargebacks), opened through the control API.

use serde_json::Value;

use crate::error::ApiError;
use crate::ids;
use crate::model::Dispute;
use crate::store::{Origin, Store};

/// Opens a dispute on a captured charge for `amount` (default: what is left unrefunded).
pub fn open(
    store: &mut Store,
    charge_id: &str,
    reason: &str,
    amount: Option<i64>,
) -> Result<Value, ApiError> {
    let charge = store
        .charges
        .get_mut(charge_id)
        .ok_or_else(|| ApiError::no_such_path("charge", charge_id))?;
    if !charge.succeeded() || !charge.captured {
        return Err(ApiError::invalid(format!(
            "Charge {charge_id} was not captured, so it cannot be disputed."
        )));
    }
    if charge.disputed {
        return Err(
            ApiError::invalid(format!("Charge {charge_id} is already disputed."))
                .code("charge_disputed"),
        );
    }
    let amount = amount.unwrap_or_else(|| charge.refundable());
    if amount <= 0 || amount > charge.amount_captured {
        return Err(ApiError::invalid(
            "The dispute amount must be positive and at most the captured amount.",
        )
        .param("amount"));
    }
    charge.disputed = true;
    let dispute = Dispute {
        id: ids::new("dp"),
        amount,
        charge: charge_id.to_owned(),
        created: ids::now(),
        currency: charge.currency.clone(),
        payment_intent: charge.payment_intent.clone(),
        reason: reason.to_owned(),
    };
    let value = dispute.to_json();
    tracing::info!(dispute = %dispute.id, charge = %charge_id, amount, "dispute opened");
    store.disputes.insert(dispute);
    store.emit(&Origin::default(), "charge.dispute.created", value.clone());
    Ok(value)
}

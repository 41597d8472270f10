"""Builds the demo CMS content and the held-out demo chats from the Banking77 training split.

Run from the repository root: `python -m streams.demo.build_content ../shared/data/banking77/train.csv`.
Writes `streams/demo/data/content.jsonl` (one saved response per intent, plus help articles) and `chats.csv`
(the held-out queries, never used as example queries). Deterministic: the split is by a hash of the text.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from collections import defaultdict
from pathlib import Path

import orjson

HOLDOUT_PERCENT = 10
DATA = Path(__file__).resolve().parent / "data"

# intent → (title, body): written for the demo, in the voice of a bank's support team.
SAVED_RESPONSES: dict[str, tuple[str, str]] = {
    "activate_my_card": (
        "Activating your new card",
        "Open the app, go to Cards and tap Activate, then enter the 6-digit code printed on the letter that came with your card.",
    ),
    "age_limit": (
        "Who can open an account",
        "You need to be 18 or older to open an account. Younger customers can use a junior account set up by a parent.",
    ),
    "apple_pay_or_google_pay": (
        "Using Apple Pay or Google Pay",
        "Add your card from the app: tap Cards, then Add to Apple Wallet or Add to Google Pay, and follow the prompts.",
    ),
    "atm_support": (
        "Using your card at ATMs",
        "Your card works at any ATM showing the Visa or Mastercard logo, worldwide. Free withdrawals depend on your plan.",
    ),
    "automatic_top_up": (
        "Setting up auto top-up",
        "Turn on Auto top-up under Account > Top up: choose a threshold and an amount, and we top up whenever your balance drops below it.",
    ),
    "balance_not_updated_after_bank_transfer": (
        "Bank transfer not in your balance yet",
        "Incoming bank transfers usually arrive within a few hours but can take up to 2 working days. Check the sender used the right account details.",
    ),
    "balance_not_updated_after_cheque_or_cash_deposit": (
        "Cash or cheque deposit not showing",
        "Cheque and cash deposits take up to 5 working days to clear. If it has been longer, send us a photo of the receipt.",
    ),
    "beneficiary_not_allowed": (
        "Why a payee could not be added",
        "Some beneficiaries are blocked for security or compliance reasons. Check the details, and if it still fails, contact us with the payee's name and bank.",
    ),
    "cancel_transfer": (
        "Cancelling a transfer",
        "A transfer can be cancelled from the activity screen while it is still pending. Once it has been completed, ask the recipient to return the money.",
    ),
    "card_about_to_expire": (
        "Your card is about to expire",
        "We send a replacement card automatically about a month before expiry. You can also order one early from Cards > Replace card.",
    ),
    "card_acceptance": (
        "Where your card is accepted",
        "Your card is accepted wherever Visa or Mastercard is, online and in shops. A few merchants decline prepaid or foreign cards.",
    ),
    "card_arrival": (
        "Your card is on its way",
        "Cards usually arrive within 3-5 working days. You can track delivery in the app under Cards; if it has been more than 2 weeks, we will send a new one.",
    ),
    "card_delivery_estimate": (
        "How long card delivery takes",
        "Standard delivery takes 3-5 working days; express delivery arrives the next working day in most countries.",
    ),
    "card_linking": (
        "Linking a card you already have",
        "To link a card you already received, open Cards, tap Link a card and enter the code from its letter.",
    ),
    "card_not_working": (
        "Your card is not working",
        "Check the card is activated and not frozen in the app, and that the payment type is enabled under Card settings. If it still fails, order a replacement.",
    ),
    "card_payment_fee_charged": (
        "A fee on a card payment",
        "Card payments are free in your home currency. Fees may apply to payments in other currencies above your plan's allowance, or at weekends.",
    ),
    "card_payment_not_recognised": (
        "A card payment you don't recognise",
        "Check the merchant name in the app; they often differ from the shop's name. If you still don't recognise it, freeze your card and report it.",
    ),
    "card_payment_wrong_exchange_rate": (
        "Exchange rate on a card payment looks wrong",
        "We use the interbank rate at the time the payment is authorised; a markup applies at weekends and above your plan's allowance.",
    ),
    "card_swallowed": (
        "The ATM kept your card",
        "If an ATM kept your card, freeze it in the app and order a replacement. Contact the ATM's bank if you need the card back.",
    ),
    "cash_withdrawal_charge": (
        "Fees on cash withdrawals",
        "Withdrawals are free up to your plan's monthly allowance; after that a 2% fee applies. The ATM owner may also charge a fee.",
    ),
    "cash_withdrawal_not_recognised": (
        "A cash withdrawal you don't recognise",
        "Freeze your card in the app right away and report the withdrawal to us; we will investigate and refund fraudulent withdrawals.",
    ),
    "change_pin": (
        "Changing your PIN",
        "You can change your PIN at any ATM that supports PIN changes, or view your current PIN in the app under Cards > Show PIN.",
    ),
    "compromised_card": (
        "If you think your card was compromised",
        "Freeze the card in the app immediately, then terminate it and order a new one. Report any payments you didn't make.",
    ),
    "contactless_not_working": (
        "Contactless is not working",
        "For security, the first payment on a new card must use chip and PIN. Also check contactless is enabled under Card settings.",
    ),
    "country_support": (
        "Countries we support",
        "You can open an account if you live in the EEA, the UK, Switzerland or the US. Your card works worldwide.",
    ),
    "declined_card_payment": (
        "Why a card payment was declined",
        "Payments are declined when the balance is too low, the card is frozen, the payment type is disabled, or our fraud checks stop it. The app shows the reason.",
    ),
    "declined_cash_withdrawal": (
        "Why a cash withdrawal was declined",
        "A withdrawal can be declined for a wrong PIN, a low balance, a disabled ATM setting or the ATM's own limit. Check the app for the reason.",
    ),
    "declined_transfer": (
        "Why a transfer was declined",
        "Transfers are declined when details are wrong, the balance is too low, or our checks need more information. The app tells you what to fix.",
    ),
    "direct_debit_payment_not_recognised": (
        "A direct debit you don't recognise",
        "Check the creditor's name in the app. If you never authorised it, cancel the mandate and ask us to claim the money back.",
    ),
    "disposable_card_limits": (
        "Limits on disposable cards",
        "Each disposable virtual card works for one payment and then regenerates. You can have a limited number per day depending on your plan.",
    ),
    "edit_personal_details": (
        "Changing your personal details",
        "Update your address, phone or email in the app under Profile. Changing your legal name needs a photo of a new ID document.",
    ),
    "exchange_charge": (
        "Fees for exchanging currency",
        "Exchanges are free up to your plan's monthly allowance on weekdays; a small fee applies above it and at weekends.",
    ),
    "exchange_rate": (
        "The exchange rate we use",
        "We use the interbank exchange rate, shown in the app before you confirm. Rates move with the market during the week.",
    ),
    "exchange_via_app": (
        "Exchanging money in the app",
        "Open Exchange in the app, pick the two currencies and the amount, and confirm. The money appears in the new currency straight away.",
    ),
    "extra_charge_on_statement": (
        "An extra charge on your statement",
        "Extra charges are usually currency fees, ATM fees or a merchant's pre-authorisation. Tap the payment in the app to see the breakdown.",
    ),
    "failed_transfer": (
        "A transfer that failed",
        "If a transfer failed, the money returns to your account within a few working days. Check the recipient details and try again.",
    ),
    "fiat_currency_support": (
        "Currencies you can hold",
        "You can hold and exchange more than 25 currencies in the app. Check the Exchange screen for the full list.",
    ),
    "get_disposable_virtual_card": (
        "Getting a disposable virtual card",
        "Create one in the app under Cards > Add card > Disposable. Its details change after every payment, which makes it safer online.",
    ),
    "get_physical_card": (
        "Getting your physical card",
        "Order a physical card in the app under Cards > Order physical card; it arrives in 3-5 working days.",
    ),
    "getting_spare_card": (
        "Ordering an extra card",
        "You can order additional cards for your account under Cards > Add card. Each card has its own PIN and settings.",
    ),
    "getting_virtual_card": (
        "Getting a virtual card",
        "Create a virtual card instantly in the app under Cards > Add card > Virtual, and use it online or with Apple Pay or Google Pay.",
    ),
    "lost_or_stolen_card": (
        "Lost or stolen card",
        "Freeze your card in the app straight away, then terminate it and order a replacement. Report any payments you didn't make.",
    ),
    "lost_or_stolen_phone": (
        "Lost or stolen phone",
        "Log in on another device or contact us to lock your account. Freeze your cards, then change your passcode once you have a new phone.",
    ),
    "order_physical_card": (
        "Ordering a physical card",
        "Go to Cards > Order physical card, confirm your address and pay any delivery fee. Delivery takes 3-5 working days.",
    ),
    "passcode_forgotten": (
        "Forgot your passcode",
        "Tap Forgot passcode on the login screen; we will verify you by email and a selfie, then you can set a new one.",
    ),
    "pending_card_payment": (
        "A card payment still pending",
        "Card payments stay pending until the merchant completes them, usually within a few days. If it is never completed, the money is returned.",
    ),
    "pending_cash_withdrawal": (
        "A pending cash withdrawal",
        "ATM withdrawals can show as pending for a few days until the ATM's bank confirms them. No action is needed.",
    ),
    "pending_top_up": (
        "A top-up still pending",
        "Card top-ups are usually instant but can take up to an hour; bank transfers take up to 2 working days.",
    ),
    "pending_transfer": (
        "A transfer still pending",
        "Transfers can be pending for up to 2 working days while the receiving bank processes them, longer for some currencies.",
    ),
    "pin_blocked": (
        "Your PIN is blocked",
        "After 3 wrong PIN attempts the PIN is blocked. Unblock it in the app under Cards > Unblock PIN, or at an ATM.",
    ),
    "receiving_money": (
        "Receiving money into your account",
        "Share your account details from the app's Account screen. Money from other accounts with us arrives instantly.",
    ),
    "Refund_not_showing_up": (
        "A refund not showing yet",
        "Merchants can take up to 15 working days to send a refund. If the merchant has confirmed it and it is still missing, contact us with their receipt.",
    ),
    "request_refund": (
        "Asking for a refund",
        "Ask the merchant first; most refunds go back to your card. If they refuse, we can open a chargeback from the payment in the app.",
    ),
    "reverted_card_payment?": (
        "A card payment that was reverted",
        "A reverted payment means the merchant cancelled it before completing it; the money is back in your balance.",
    ),
    "supported_cards_and_currencies": (
        "Cards and currencies for top-ups",
        "You can top up with most Visa and Mastercard debit and credit cards in the supported currencies listed in the app.",
    ),
    "terminate_account": (
        "Closing your account",
        "Withdraw your balance, then go to Profile > Close account. Closing is free and takes effect once pending payments settle.",
    ),
    "top_up_by_bank_transfer_charge": (
        "Fees for topping up by bank transfer",
        "Topping up by bank transfer is free; your own bank may charge for sending it.",
    ),
    "top_up_by_card_charge": (
        "Fees for topping up by card",
        "Card top-ups are free with most cards; a small fee may apply to some international or business cards.",
    ),
    "top_up_by_cash_or_cheque": (
        "Topping up with cash or a cheque",
        "We don't accept cash or cheques directly; deposit them at your other bank and top up by bank transfer.",
    ),
    "top_up_failed": (
        "A top-up that failed",
        "Top-ups fail when the card issuer declines them or the card is not supported. Try another card or a bank transfer.",
    ),
    "top_up_limits": (
        "Top-up limits",
        "You can top up to your account's balance limit; the app shows your remaining allowance on the Top up screen.",
    ),
    "top_up_reverted": (
        "A top-up that was reverted",
        "A top-up is reverted when the card issuer cancels it or our checks fail; the money returns to your card in a few days.",
    ),
    "topping_up_by_card": (
        "Topping up with a card",
        "Go to Top up, choose Card, and enter your card details. The money usually appears straight away.",
    ),
    "transaction_charged_twice": (
        "Charged twice for one payment",
        "A second charge is often a pre-authorisation that drops off in a few days. If both complete, dispute the duplicate from the app.",
    ),
    "transfer_fee_charged": (
        "A fee on a transfer",
        "Transfers in the same currency are free; fees apply to some international transfers and are shown before you confirm.",
    ),
    "transfer_into_account": (
        "Transferring money into your account",
        "Send money from your other bank to the account details shown on the app's Account screen.",
    ),
    "transfer_not_received_by_recipient": (
        "Recipient hasn't received a transfer",
        "International transfers can take up to 5 working days. Share the transfer's confirmation from the app with the recipient's bank.",
    ),
    "transfer_timing": (
        "How long transfers take",
        "Transfers to other accounts with us are instant; SEPA and UK transfers take hours; international transfers 1-5 working days.",
    ),
    "unable_to_verify_identity": (
        "Problems verifying your identity",
        "Make sure your ID is valid, the photo is sharp and shows all four corners, and your selfie is well lit. Then try again from the app.",
    ),
    "verify_my_identity": (
        "Verifying your identity",
        "Verify in the app with a photo of a valid ID and a selfie. It usually takes a few minutes.",
    ),
    "verify_source_of_funds": (
        "Proving where your money comes from",
        "We may ask for payslips, bank statements or a sale contract to confirm the source of funds, as the law requires.",
    ),
    "verify_top_up": (
        "Verifying a card top-up",
        "For security we may charge a small amount to your card with a code in the description; enter that code in the app.",
    ),
    "virtual_card_not_working": (
        "Your virtual card is not working",
        "Check the virtual card is not frozen and online payments are enabled. Some merchants don't accept virtual cards.",
    ),
    "visa_or_mastercard": (
        "Visa or Mastercard",
        "Cards are issued as Visa or Mastercard depending on your country; both work the same worldwide.",
    ),
    "why_verify_identity": (
        "Why we verify your identity",
        "Banking regulations require us to know who our customers are; verification also protects your account from fraud.",
    ),
    "wrong_amount_of_cash_received": (
        "The ATM gave you the wrong amount",
        "If the ATM dispensed less than you asked for, report it in the app with the amount you received; we will investigate with the ATM's bank.",
    ),
    "wrong_exchange_rate_for_cash_withdrawal": (
        "Exchange rate on a cash withdrawal",
        "Cash withdrawals abroad use our rate at the time, plus any markup; decline the ATM's own conversion to get our rate.",
    ),
}

HELP_ARTICLES: list[dict[str, object]] = [
    {
        "content_id": "help_card_delivery",
        "title": "Card delivery and tracking",
        "body": "How long cards take to arrive, how to track them, and what to do when a card is late or lost in the post.",
        "example_queries": ["where is my card", "track card delivery", "card not arrived"],
    },
    {
        "content_id": "help_fees",
        "title": "Fees and limits explained",
        "body": "Every fee we charge: exchange, ATM withdrawals, top-ups and transfers, and the free allowances of each plan.",
        "example_queries": [
            "what fees do you charge",
            "why was I charged a fee",
            "free withdrawal allowance",
        ],
    },
    {
        "content_id": "help_security",
        "title": "Keeping your account secure",
        "body": "Freezing a card, reporting fraud, lost phones and cards, and protecting your passcode.",
        "example_queries": ["my card was stolen", "someone used my card", "I lost my phone"],
    },
    {
        "content_id": "help_identity",
        "title": "Verifying your identity",
        "body": "Which documents we accept, why we ask for them, and how to fix a verification that failed.",
        "example_queries": ["why do you need my id", "verification failed", "what documents do I need"],
    },
    {
        "content_id": "help_transfers",
        "title": "Sending and receiving money",
        "body": "Transfer times, cancelling a transfer, declined or failed transfers, and money that has not arrived.",
        "example_queries": ["how long does a transfer take", "transfer not received", "cancel a payment"],
    },
    {
        "content_id": "help_top_up",
        "title": "Topping up your account",
        "body": "Ways to add money: cards, bank transfers and auto top-up, and what to do if a top-up is pending or failed.",
        "example_queries": ["how do I add money", "top up failed", "top up pending"],
    },
]


def held_out(text: str) -> bool:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 100 < HOLDOUT_PERCENT


def main(train_csv: Path) -> None:
    examples: dict[str, list[str]] = defaultdict(list)
    holdout: list[tuple[str, str]] = []
    with train_csv.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if held_out(row["text"]):
                holdout.append((row["text"], row["category"]))
            else:
                examples[row["category"]].append(row["text"])
    missing = set(examples) ^ set(SAVED_RESPONSES)
    if missing:
        raise SystemExit(f"intents without a written response, or responses without data: {sorted(missing)}")
    with (DATA / "content.jsonl").open("wb") as out:
        for intent in sorted(SAVED_RESPONSES):
            title, body = SAVED_RESPONSES[intent]
            event = {
                "content_id": intent,
                "kind": "saved_response",
                "op": "upsert",
                "version": 1,
                "title": title,
                "body": body,
                "tags": ["banking77"],
                "example_queries": examples[intent],
                "updated_at": "2026-11-29T08:00:00.000Z",
            }
            out.write(orjson.dumps(event) + b"\n")
        for article in HELP_ARTICLES:
            event = {
                "kind": "help_article",
                "op": "upsert",
                "version": 1,
                "tags": ["help"],
                "updated_at": "2026-11-29T08:00:00.000Z",
                **article,
            }
            out.write(orjson.dumps(event) + b"\n")
    with (DATA / "chats.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "category"])
        writer.writerows(holdout)
    print(
        f"{len(SAVED_RESPONSES)} saved responses, {len(HELP_ARTICLES)} help articles, "
        f"{sum(map(len, examples.values()))} example queries, {len(holdout)} held-out chats"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))

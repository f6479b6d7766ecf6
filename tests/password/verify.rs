//! `poolsync::password::verify` on hashes made by other implementations, and the payload round
//! trip the emulator relies on.

use super::cases::{self, Case};
use poolsync::password::{Hash, verify};

fn check(case: &Case) {
    assert!(
        verify(&case.hash, case.password.as_bytes()),
        "{}: the right password does not verify",
        case.name
    );
    let wrong = format!("{}x", case.password);
    assert!(
        !verify(&case.hash, wrong.as_bytes()),
        "{}: a wrong password verifies",
        case.name
    );
    assert!(
        !verify(&case.hash, b""),
        "{}: the empty password verifies",
        case.name
    );
    let stored = Hash::from_payload(&case.hash.to_payload()).unwrap();
    assert_eq!(
        stored, case.hash,
        "{}: the payload does not read back",
        case.name
    );
}

#[test]
fn every_method_and_parameter_set_verifies_the_right_password_only() {
    let cases = cases::all();
    assert_eq!(cases.len(), 3 + 4 + 4 + 3 + 12);
    for case in &cases {
        check(case);
    }
}

#[test]
fn real_hashes_of_known_passwords_verify() {
    let cases = cases::real();
    for case in &cases {
        check(case);
    }
    // Clerk's bcrypt, two Keycloak pbkdf2-sha256 and three Keycloak argon2 users, when
    // `../shared` is there.
    assert!(cases.is_empty() || cases.len() == 6, "{}", cases.len());
}

//! GS1 facts lotline checks: check digits of GTINs and GLNs, and the character set of lot codes;
//! element strings and Digital Link URIs in `syntax`.

pub mod syntax;

/// Whether the last digit of `digits` is the GS1 mod-10 check digit of the others
/// (weights 3, 1, 3, 1… from the right, for GTIN-8/12/13/14, GLN and SSCC alike).
pub fn check_digit_ok(digits: &str) -> bool {
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let values: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    let (data, check) = values.split_at(values.len() - 1);
    check_digit(data) == check[0]
}

/// The GS1 mod-10 check digit for `data` digits.
pub fn check_digit(data: &[u32]) -> u32 {
    let sum: u32 = data.iter().rev().enumerate().map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d }).sum();
    (10 - sum % 10) % 10
}

/// A GTIN-8, -12, -13 or -14, normalised to 14 digits (leading zeros), or why it is not one.
pub fn parse_gtin(text: &str) -> Result<String, String> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("A GTIN has digits only.".into());
    }
    if ![8, 12, 13, 14].contains(&digits.len()) {
        return Err(format!("A GTIN has 8, 12, 13 or 14 digits; this one has {}.", digits.len()));
    }
    if !check_digit_ok(&digits) {
        let data: Vec<u32> = digits[..digits.len() - 1].bytes().map(|b| u32::from(b - b'0')).collect();
        return Err(format!("The check digit is wrong: it should be {}.", check_digit(&data)));
    }
    Ok(format!("{digits:0>14}"))
}

/// A 13-digit GLN, or why it is not one.
pub fn parse_gln(text: &str) -> Result<String, String> {
    let digits = text.trim();
    if digits.len() != 13 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("A GLN has exactly 13 digits.".into());
    }
    if !check_digit_ok(digits) {
        let data: Vec<u32> = digits[..12].bytes().map(|b| u32::from(b - b'0')).collect();
        return Err(format!("The check digit is wrong: it should be {}.", check_digit(&data)));
    }
    Ok(digits.to_string())
}

/// A GS1 company prefix (6 to 12 digits), or why it is not one.
pub fn parse_company_prefix(text: &str) -> Result<String, String> {
    let digits = text.trim();
    if !(6..=12).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("A GS1 company prefix has 6 to 12 digits, as GS1 gave it (the start of your GTINs).".into());
    }
    Ok(digits.to_string())
}

/// The SSCC (AI 00) numbered `serial` under `prefix`: extension digit 0, the company prefix, the
/// serial reference filling 17 digits, the check digit; None when `serial` does not fit.
pub fn sscc(prefix: &str, serial: u64) -> Option<String> {
    let width = 16usize.checked_sub(prefix.len())?;
    let reference = format!("{serial:0width$}");
    if reference.len() > width || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let data = format!("0{prefix}{reference}");
    let digits: Vec<u32> = data.bytes().map(|b| u32::from(b - b'0')).collect();
    Some(format!("{data}{}", check_digit(&digits)))
}

/// The SSCC as an EPC URI (`urn:epc:id:sscc:<prefix>.<extension><serial reference>`), as EPCIS
/// names a pallet.
pub fn sscc_urn(sscc: &str, prefix_len: usize) -> Option<String> {
    (sscc.len() == 18 && (6..=12).contains(&prefix_len))
        .then(|| format!("urn:epc:id:sscc:{}.{}{}", &sscc[1..1 + prefix_len], &sscc[..1], &sscc[1 + prefix_len..17]))
}

/// Whether `c` is in GS1's 82-character set (CSET 82), the characters a lot code (AI 10) may use.
pub fn is_cset82(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"%&'()*+,-./:;<=>?_".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sscc_is_the_prefix_and_serial_with_their_check_digit() {
        // GS1 General Specifications' example SSCC (extension digit 1 there, 0 here).
        assert!(check_digit_ok("106141411234567897"));
        let code = sscc("0614141", 123_456_789).unwrap();
        assert_eq!(code.len(), 18);
        assert!(check_digit_ok(&code));
        assert_eq!(&code[..17], "00614141123456789");
        assert_eq!(sscc_urn(&code, 7).unwrap(), "urn:epc:id:sscc:0614141.0123456789");
        assert_eq!(&sscc("061414100002", 9_999).unwrap()[..17], "00614141000029999");
        assert!(sscc("061414100002", 10_000).is_none(), "a 12-digit prefix leaves 4 serial digits");
        assert!(parse_company_prefix("12345").is_err() && parse_company_prefix("0614141").is_ok());
    }

    #[test]
    fn published_examples_have_valid_check_digits() {
        for gtin in ["02345673", "416000336108", "1234567890128", "12345678901231", "09506000134352"] {
            assert!(check_digit_ok(gtin), "{gtin}");
        }
        assert!(!check_digit_ok("12345678901232"));
        assert!(!check_digit_ok("1"));
        assert!(!check_digit_ok("12a4"));
    }

    #[test]
    fn gtins_are_padded_to_fourteen_digits_and_wrong_ones_explained() {
        assert_eq!(parse_gtin("1234567890128").unwrap(), "01234567890128");
        assert_eq!(parse_gtin("0234 5673").unwrap(), "00000002345673");
        assert_eq!(parse_gtin("1234567890127").unwrap_err(), "The check digit is wrong: it should be 8.");
        assert!(parse_gtin("123").unwrap_err().contains("this one has 3"));
        assert!(parse_gtin("12345678901x").is_err());
    }

    #[test]
    fn glns_need_thirteen_digits_and_a_check_digit() {
        assert_eq!(parse_gln("9506000134352").unwrap(), "9506000134352");
        assert!(parse_gln("9506000134353").unwrap_err().contains("should be 2"));
        assert!(parse_gln("950600013435").is_err());
    }

    #[test]
    fn cset82_excludes_space_and_specials() {
        assert!("AB-12/x_Y.z".chars().all(is_cset82));
        for c in [' ', '#', '$', '@', '[', '\\', ']', '^', '`', '{', '|', '}', '~', 'é'] {
            assert!(!is_cset82(c), "{c:?}");
        }
    }
}

//! The tokenizers and normalizers an index config may name, as Quickwit names them, and the
//! custom ones a doc mapping defines (`doc_mapping.tokenizers`).

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, NgramTokenizer, RawTokenizer, RegexTokenizer, RemoveLongFilter,
    SimpleTokenizer, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer, TokenizerManager,
    WhitespaceTokenizer,
};

use crate::config::TokenizerDefinition;
use crate::error::{IndexError, Result};

/// Tokens longer than this are dropped at indexing, as Quickwit does.
pub(super) const MAX_TOKEN_LENGTH: usize = 255;
/// Built-in tokenizers a text field may name.
pub const TOKENIZER_NAMES: [&str; 7] = [
    "raw",
    "raw_lowercase",
    "default",
    "en_stem",
    "lowercase",
    "whitespace",
    "chinese_compatible",
];
/// Types of custom tokenizers.
const CUSTOM_TOKENIZER_TYPES: [&str; 3] = ["regex", "ngram", "simple"];
/// Filters a custom tokenizer may apply.
const TOKEN_FILTER_NAMES: [&str; 3] = ["remove_long", "lower_caser", "ascii_folding"];
/// Longest n-grams a custom ngram tokenizer may make: each position of a text gives up to
/// `max_gram - min_gram + 1` tokens, so this bounds what one value costs to index.
const MAX_NGRAM: usize = 64;
/// Normalizers a fast text field may name.
pub(super) const NORMALIZER_NAMES: [&str; 2] = ["raw", "lowercase"];

/// Hydrant's tokenizers, identical at indexing and at search: Quickwit's definitions, dropping
/// tokens longer than 255 bytes.
pub fn hydrant_tokenizers() -> TokenizerManager {
    let manager = TokenizerManager::new();
    manager.register(
        "raw",
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .build(),
    );
    manager.register(
        "default",
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .filter(LowerCaser)
            .build(),
    );
    manager.register(
        "en_stem",
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .filter(LowerCaser)
            .filter(Stemmer::new(tantivy::tokenizer::Language::English))
            .build(),
    );
    manager.register(
        "lowercase",
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .filter(LowerCaser)
            .build(),
    );
    manager.register(
        "whitespace",
        TextAnalyzer::builder(WhitespaceTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .build(),
    );
    // `raw_lowercase` is `lowercase` under Quickwit's other name for it.
    manager.register(
        "raw_lowercase",
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .filter(LowerCaser)
            .build(),
    );
    manager.register(
        "chinese_compatible",
        TextAnalyzer::builder(CjkTokenizer)
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .filter(LowerCaser)
            .build(),
    );
    manager
}

/// The built-in tokenizers plus `custom`, or why one of `custom` is invalid. Returns the
/// names every field of the index may use.
pub(super) fn index_tokenizers(
    custom: &[TokenizerDefinition],
) -> Result<(TokenizerManager, Vec<String>)> {
    let manager = hydrant_tokenizers();
    let mut names: Vec<String> = TOKENIZER_NAMES
        .iter()
        .map(|name| name.to_string())
        .collect();
    for definition in custom {
        let name = &definition.name;
        if !super::field::is_valid_name(name) {
            return Err(IndexError::InvalidConfig(format!(
                "tokenizer name `{name}`: use letters, digits, `_` or `-`, starting with a letter"
            )));
        }
        if names.contains(name) {
            return Err(IndexError::InvalidConfig(format!(
                "tokenizer `{name}` is defined twice, or is a built-in tokenizer"
            )));
        }
        let analyzer = custom_analyzer(definition)
            .map_err(|why| IndexError::InvalidConfig(format!("tokenizer `{name}`: {why}")))?;
        manager.register(name, analyzer);
        names.push(name.clone());
    }
    Ok((manager, names))
}

fn custom_analyzer(definition: &TokenizerDefinition) -> std::result::Result<TextAnalyzer, String> {
    let TokenizerDefinition {
        tokenizer_type,
        pattern,
        min_gram,
        max_gram,
        prefix_only,
        filters,
        ..
    } = definition;
    let unexpected =
        |option: &str| format!("`{option}` is not an option of `{tokenizer_type}` tokenizers");
    if tokenizer_type != "regex" && pattern.is_some() {
        return Err(unexpected("pattern"));
    }
    if tokenizer_type != "ngram" {
        for (option, given) in [
            ("min_gram", min_gram.is_some()),
            ("max_gram", max_gram.is_some()),
            ("prefix_only", prefix_only.is_some()),
        ] {
            if given {
                return Err(unexpected(option));
            }
        }
    }
    let mut builder = match tokenizer_type.as_str() {
        "regex" => {
            let pattern = pattern
                .as_deref()
                .ok_or("a regex tokenizer needs a `pattern`")?;
            let tokenizer = RegexTokenizer::new(pattern)
                .map_err(|error| format!("invalid pattern `{pattern}`: {error}"))?;
            TextAnalyzer::builder(tokenizer).dynamic()
        }
        "ngram" => {
            let (Some(min_gram), Some(max_gram)) = (*min_gram, *max_gram) else {
                return Err("an ngram tokenizer needs `min_gram` and `max_gram`".to_string());
            };
            if min_gram == 0 || min_gram > max_gram || max_gram > MAX_NGRAM {
                return Err(format!(
                    "ngram sizes need 1 <= min_gram <= max_gram <= {MAX_NGRAM}, got \
                     {min_gram}..{max_gram}"
                ));
            }
            let tokenizer = NgramTokenizer::new(min_gram, max_gram, prefix_only.unwrap_or(false))
                .map_err(|error| error.to_string())?;
            TextAnalyzer::builder(tokenizer).dynamic()
        }
        "simple" => TextAnalyzer::builder(SimpleTokenizer::default()).dynamic(),
        other => {
            return Err(format!(
                "unknown tokenizer type `{other}` (expected one of {})",
                CUSTOM_TOKENIZER_TYPES.join(", ")
            ));
        }
    };
    for filter in filters {
        builder = match filter.as_str() {
            "remove_long" => builder.filter_dynamic(RemoveLongFilter::limit(MAX_TOKEN_LENGTH)),
            "lower_caser" => builder.filter_dynamic(LowerCaser),
            "ascii_folding" => builder.filter_dynamic(AsciiFoldingFilter),
            other => {
                return Err(format!(
                    "unknown filter `{other}` (expected one of {})",
                    TOKEN_FILTER_NAMES.join(", ")
                ));
            }
        };
    }
    Ok(builder.build())
}

/// `chinese_compatible`: words of letters and digits as `default` makes them, except that
/// each CJK ideograph is a token of its own (CJK text has no spaces between words, and a
/// phrase query over single ideographs finds any word of them).
#[derive(Clone, Copy, Debug, Default)]
struct CjkTokenizer;

/// CJK Unified Ideographs and their extensions A to E.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{20000}'..='\u{2A6DF}'
        | '\u{2A700}'..='\u{2CEAF}')
}

struct CjkTokenStream<'a> {
    text: &'a str,
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    token: Token,
    started: bool,
}

impl Tokenizer for CjkTokenizer {
    type TokenStream<'a> = CjkTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CjkTokenStream<'a> {
        CjkTokenStream {
            text,
            chars: text.char_indices().peekable(),
            token: Token::default(),
            started: false,
        }
    }
}

impl TokenStream for CjkTokenStream<'_> {
    fn advance(&mut self) -> bool {
        // Skip what is neither a letter nor a digit.
        while let Some(&(_, c)) = self.chars.peek() {
            if c.is_alphanumeric() {
                break;
            }
            self.chars.next();
        }
        let Some((start, first)) = self.chars.next() else {
            return false;
        };
        let mut end = start + first.len_utf8();
        if !is_cjk(first) {
            while let Some(&(offset, c)) = self.chars.peek() {
                if !c.is_alphanumeric() || is_cjk(c) {
                    break;
                }
                end = offset + c.len_utf8();
                self.chars.next();
            }
        }
        if self.started {
            self.token.position += 1;
        } else {
            self.token.position = 0;
            self.started = true;
        }
        self.token.offset_from = start;
        self.token.offset_to = end;
        self.token.text.clear();
        self.token.text.push_str(&self.text[start..end]);
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// Normalizers of fast text columns.
pub(super) fn hydrant_fast_field_normalizers() -> TokenizerManager {
    let manager = TokenizerManager::new();
    manager.register("raw", RawTokenizer::default());
    manager.register(
        "lowercase",
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .build(),
    );
    manager
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(manager: &TokenizerManager, name: &str, text: &str) -> Vec<String> {
        let mut analyzer = manager.get(name).expect("a registered tokenizer");
        let mut stream = analyzer.token_stream(text);
        let mut tokens = Vec::new();
        stream.process(&mut |token| tokens.push(token.text.clone()));
        tokens
    }

    #[test]
    fn built_in_tokenizers() {
        let manager = hydrant_tokenizers();
        assert_eq!(
            tokens(&manager, "raw_lowercase", "Hello World"),
            ["hello world"]
        );
        assert_eq!(
            tokens(&manager, "chinese_compatible", "Hello 你好, world2 世界!"),
            ["hello", "你", "好", "world2", "世", "界"]
        );
    }

    #[test]
    fn custom_tokenizers_and_their_mistakes() {
        let definition =
            |yaml: &str| -> TokenizerDefinition { serde_yaml_ng::from_str(yaml).unwrap() };
        let (manager, names) = index_tokenizers(&[
            definition(r#"{name: words, type: regex, pattern: "[a-z]+", filters: [lower_caser]}"#),
            definition("{name: grams, type: ngram, min_gram: 2, max_gram: 3, prefix_only: true}"),
            definition("{name: folded, type: simple, filters: [ascii_folding, lower_caser]}"),
        ])
        .unwrap();
        assert!(names.contains(&"grams".to_string()));
        assert_eq!(tokens(&manager, "words", "ab1CD"), ["ab"]);
        assert_eq!(tokens(&manager, "grams", "hello"), ["he", "hel"]);
        assert_eq!(
            tokens(&manager, "folded", "Crème brûlée"),
            ["creme", "brulee"]
        );
        for (yaml, needle) in [
            (
                "{name: x, type: multilang}",
                "expected one of regex, ngram, simple",
            ),
            ("{name: x, type: regex}", "needs a `pattern`"),
            ("{name: x, type: regex, pattern: \"(\"}", "invalid pattern"),
            (
                "{name: x, type: ngram, min_gram: 3, max_gram: 2}",
                "min_gram <= max_gram",
            ),
            (
                "{name: x, type: ngram, min_gram: 1, max_gram: 1000}",
                "<= 64",
            ),
            ("{name: x, type: simple, pattern: a}", "not an option"),
            (
                "{name: x, type: simple, filters: [stemmer]}",
                "unknown filter",
            ),
            ("{name: raw, type: simple}", "built-in"),
        ] {
            let Err(error) = index_tokenizers(&[definition(yaml)]) else {
                panic!("{yaml} is accepted");
            };
            let error = error.to_string();
            assert!(error.contains(needle), "{yaml}: {error}");
        }
    }
}

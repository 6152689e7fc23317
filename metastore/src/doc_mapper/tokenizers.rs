//! The tokenizers and normalizers an index config may name, as Quickwit names them.

use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
    TokenizerManager, WhitespaceTokenizer,
};

/// Tokens longer than this are dropped at indexing, as Quickwit does.
pub(super) const MAX_TOKEN_LENGTH: usize = 255;
/// Tokenizers a text field may name.
pub const TOKENIZER_NAMES: [&str; 5] = ["raw", "default", "en_stem", "lowercase", "whitespace"];
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
    manager
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

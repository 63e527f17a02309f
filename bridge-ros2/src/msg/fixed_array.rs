//! Serde for IDL fixed-size arrays (`float64[36]`): CDR writes them as a tuple, with
//! no length prefix. serde's own array impls stop at 32 elements, hence this module.

use std::fmt;

use serde::{
    de::{Error, SeqAccess, Visitor},
    ser::SerializeTuple,
    Deserializer, Serializer,
};

pub fn serialize<S: Serializer, const N: usize>(
    values: &[f64; N],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut tuple = serializer.serialize_tuple(N)?;
    for value in values {
        tuple.serialize_element(value)?;
    }
    tuple.end()
}

pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[f64; N], D::Error> {
    struct ArrayVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
        type Value = [f64; N];

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            write!(formatter, "{N} float64 values")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[f64; N], A::Error> {
            let mut values = [0.0; N];
            for (index, value) in values.iter_mut().enumerate() {
                *value = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(index, &self))?;
            }
            Ok(values)
        }
    }

    deserializer.deserialize_tuple(N, ArrayVisitor::<N>)
}

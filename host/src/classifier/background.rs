//! The "none of them" class every model learns beside a project's intents: short everyday
//! messages about nothing a bot is likely built for, plus the empty message.
//!
//! A softmax over a project's own intents alone cannot say "none": with two intents, anything
//! scores at least 50% for one of them, and a message sharing one word with an example takes
//! it. This class gives the probability mass somewhere to go. Its sentences teach the model that
//! greetings-free small talk, function words and unrelated topics say nothing about an intent;
//! a project's own examples always win over it where they overlap, as they are what the
//! project asked for (a sentence here that equals one of the project's examples is dropped).

/// Off-topic messages across domains, in the shapes users type (questions, requests, fragments).
pub const SENTENCES: &[&str] = &[
    "do you sell shoes",
    "what is the weather like tomorrow",
    "tell me a joke",
    "who won the football game last night",
    "how tall is mount everest",
    "can you recommend a good movie",
    "what is the capital of australia",
    "play some music",
    "i like turtles",
    "how do i bake bread",
    "what time is it in tokyo",
    "translate this into french",
    "is it going to rain",
    "book a table for two at an italian restaurant",
    "what is the meaning of life",
    "how many legs does a spider have",
    "set an alarm for seven",
    "my cat is sleeping on the sofa",
    "where can i buy cheap flights",
    "what should i cook for dinner",
    "who wrote hamlet",
    "how far is the moon",
    "recommend a book about history",
    "what is your favourite colour",
    "the train is late again",
    "can you help me with my homework",
    "how do plants grow",
    "i am bored",
    "what is two plus two",
    "order a pizza",
    "how old is the universe",
    "do you like dogs or cats",
    "where is the nearest gas station",
    "what does a lawyer do",
    "how do i fix a flat tire",
    "what is the best phone to buy",
    "sing me a song",
    "are you a robot",
    "how do you spell necessary",
    "what is the score of the game",
    "find me a hotel in paris",
    "my neighbour is too loud",
    "what are the symptoms of the flu",
    "how do i learn to swim",
    "is coffee bad for you",
    "which planet is the biggest",
    "please turn off the lights",
    "asdf qwerty",
    "ok",
    "hmm",
    "blah blah",
    "something else entirely",
];

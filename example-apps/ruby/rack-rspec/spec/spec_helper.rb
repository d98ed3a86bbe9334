# frozen_string_literal: true

require "rack"
require "rack/mock"
require_relative "../app"

RSpec.configure do |config|
  config.disable_monkey_patching!
end
